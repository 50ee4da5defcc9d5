"""BM25 relevance of records to claims, and candidate links that respect curators."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import bm25s
import numpy as np
import pandas as pd
import Stemmer

from evidence.claims import claims_frame, load_claims
from evidence.curated import read_curated
from evidence.medline_xml import parse_medline_xml
from evidence.pipeline import Batch, apply_batch
from evidence.records import parse_medline, parse_pubmed_xml, records_frame
from evidence.relevance import (
    DEFAULT_THRESHOLD,
    TOLERANCE,
    CorpusStats,
    candidate_links,
    claim_queries,
    claim_terms,
    query_terms,
    record_text,
    score_relevance,
    score_terms,
    term_rows,
)
from evidence.schema import CLAIMS, LINKS
from evidence.store import Store

REPO = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def claims() -> pd.DataFrame:
    return CLAIMS.conform(
        pd.DataFrame(
            [
                {
                    "claim_id": "C1",
                    "statement": "TMS can relieve emotional blunting.",
                    "quote": "q",
                    "topics": ["tms"],
                    "query": '"emotional blunting"[tiab] AND rTMS',
                    "content_file": "x.md",
                    "quote_start": 0,
                    "quote_end": 1,
                },
                {
                    "claim_id": "C2",
                    "statement": "SSRIs cause sexual dysfunction.",
                    "quote": "q",
                    "topics": ["ssri"],
                    "query": "",
                    "content_file": "x.md",
                    "quote_start": 0,
                    "quote_end": 1,
                },
            ]
        )
    )


def records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pmid": ["1", "2", "3"],
            "title": [
                "SYNTHETIC rTMS for emotional blunting in depression",
                "SYNTHETIC sexual dysfunction on SSRIs",
                "SYNTHETIC telomere length and pancreatic cancer",
            ],
            "abstract": ["Blunting improved after rTMS.", "", "Cases and controls."],
            "mesh": [[], [{"descriptor": "Selective Serotonin Reuptake Inhibitors"}], []],
            "keywords": [["emotional blunting"], [], []],
        }
    )


def test_query_terms_strip_tags_and_booleans():
    q = '("emotional blunting"[tiab] OR numb*[tiab]) AND "Transcranial Magnetic Stimulation"[MeSH]'
    q += " AND 2000:2025[dp] NOT animals[mh]"
    assert query_terms(q) == [
        "emotional blunting",
        "numb",
        "transcranial magnetic stimulation",
        "animals",
    ]
    assert query_terms("") == [] and query_terms(None) == []


def test_scores_rank_the_matching_record_first_and_stay_in_0_1():
    scores = score_relevance(records(), claims())
    best = scores.sort_values("relevance").groupby("claim_id").tail(1).set_index("claim_id")
    assert best.loc["C1", "pmid"] == "1" and best.loc["C2", "pmid"] == "2"
    assert scores["relevance"].between(0, 1).all()
    assert "3" not in set(scores["pmid"])  # shares no term with either claim
    with_topics = score_relevance(records(), claims(), {"ssri": "telomere[tiab]"})
    assert "3" in set(with_topics.loc[with_topics["claim_id"] == "C2", "pmid"])


def test_candidate_links_never_overwrite_a_curator():
    scores = pd.DataFrame(
        {"claim_id": ["C1", "C1", "C2"], "pmid": ["1", "9", "2"], "relevance": [0.6, 0.05, 0.5]}
    )
    existing = LINKS.conform(
        pd.DataFrame(
            [
                {
                    "claim_id": "C1",
                    "pmid": "1",
                    "relevance": np.nan,
                    "stance": "supports",
                    "stance_origin": "curator",
                    "stance_confidence": 1.0,
                    "stance_evidence": "e",
                    "note": "curator note",
                    "curator_note": None,
                    "direct": True,
                    "indirect_because": "",
                    "in_latest_query": False,
                    "first_linked_run": "r0",
                    "updated_at": NOW,
                    "updated_by": "curator",
                },
                {
                    "claim_id": "C1",
                    "pmid": "9",
                    "relevance": 0.05,
                    "stance": "background",
                    "stance_origin": "curator",
                    "stance_confidence": 1.0,
                    "stance_evidence": "",
                    "note": "kept",
                    "curator_note": None,
                    "direct": True,
                    "indirect_because": "",
                    "in_latest_query": False,
                    "first_linked_run": "r0",
                    "updated_at": NOW,
                    "updated_by": "curator",
                },
            ]
        )
    )
    out = candidate_links(scores, existing, threshold=0.3, run_id="r1", now=NOW)
    assert list(out.columns) == LINKS.columns
    rows = out.set_index(["claim_id", "pmid"])
    kept = rows.loc[("C1", "1")]
    assert kept["stance"] == "supports" and kept["note"] == "curator note"
    assert kept["stance_origin"] == "curator" and kept["relevance"] == 0.6
    assert ("C1", "9") not in rows.index  # unchanged relevance: nothing to write
    new = rows.loc[("C2", "2")]
    assert new["stance"] == "unassessed" and new["stance_origin"] == "unassessed"
    assert new["first_linked_run"] == "r1"
    below = candidate_links(scores, LINKS.empty(), threshold=0.55, now=NOW)
    assert set(zip(below["claim_id"], below["pmid"], strict=True)) == {("C1", "1")}


# ----- scores kept up to date as the store grows -----------------------------------------------


def _real_records(eutils_dir: Path, medline_dir: Path) -> pd.DataFrame:
    """The shared fixtures' PubMed records (efetch, MEDLINE 2016 bulk, nbib) and the curated
    corpus: ~700 records on many topics, in PMID order."""
    rows = [r for p in sorted(eutils_dir.glob("pubmed*.xml")) for r in parse_pubmed_xml(p)]
    rows += list(parse_medline_xml(medline_dir / "medline16n0902.xml.gz"))
    rows += [r for p in sorted(medline_dir.glob("pubmed_result*.txt")) for r in parse_medline(p)]
    registry = load_claims(REPO / "data" / "claims.yaml")
    curated = read_curated(REPO / "data/corpus/curated_evidence.jsonl", registry.claim_ids)
    records = pd.concat([records_frame(rows), curated.records], ignore_index=True)
    records = records.drop_duplicates("pmid").assign(_n=lambda d: d["pmid"].astype(int))
    return records.sort_values("_n").drop(columns="_n").reset_index(drop=True)


def _registry_claims() -> tuple[pd.DataFrame, dict[str, str]]:
    registry = load_claims(REPO / "data" / "claims.yaml")
    return claims_frame(registry), {k: t.query for k, t in registry.topics.items()}


def test_scores_are_bm25s_lucene_bm25(eutils_dir: Path, medline_dir: Path) -> None:
    """The relevance kept as data is the BM25 bm25s computes over the same corpus (to float32)."""
    records = _real_records(eutils_dir, medline_dir)
    claims_df, topics = _registry_claims()
    stemmer = Stemmer.Stemmer("english")
    corpus = bm25s.tokenize(record_text(records), stopwords="en", stemmer=stemmer)
    index = bm25s.BM25(method="lucene")
    index.index(corpus, show_progress=False)
    df = np.diff(index.scores["indptr"]).astype(np.float64)
    idf = np.log1p((index.scores["num_docs"] - df + 0.5) / (df + 0.5))
    ours = score_relevance(records, claims_df, topics).set_index(["claim_id", "pmid"])["relevance"]
    compared = 0
    for claim_id, text in claim_queries(claims_df, topics).items():
        words = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, return_ids=False)[0]
        ids = sorted({index.vocab_dict[w] for w in words if w in index.vocab_dict})
        theirs = index.get_scores_from_ids(ids) / idf[ids].sum()
        for pmid, score in zip(records["pmid"], theirs, strict=True):
            mine = ours.get((claim_id, pmid), 0.0)
            assert abs(mine - score) < 1e-6, (claim_id, pmid, mine, score)
            compared += score > 0
    assert compared > 1000


def test_drift_bounds_how_far_reference_scores_are_from_a_full_score(
    eutils_dir: Path, medline_dir: Path
) -> None:
    """Scores computed with the statistics of the first half of the records differ from scores
    with every record's statistics by at most `CorpusStats.drift`, for every record."""
    records = _real_records(eutils_dir, medline_dir)
    claims_df, topics = _registry_claims()
    terms = claim_terms(claims_df, topics)
    vocabulary = set().union(*terms.values())
    rows = term_rows(records, vocabulary)
    half = len(rows) // 2
    stats = CorpusStats.of(rows.iloc[:half], vocabulary).rebased(terms)
    stats = stats.replaced(rows.iloc[0:0], rows.iloc[half:])
    assert stats.current.docs == len(rows) and stats.reference.docs == half
    old = score_terms(rows, terms, stats).set_index(["claim_id", "pmid"])["relevance"]
    new = score_terms(rows, terms, stats, reference=False)
    new = new.set_index(["claim_id", "pmid"])["relevance"]
    gap = (old.reindex(old.index.union(new.index), fill_value=0) - new).abs().fillna(old).max()
    assert 0 < gap <= stats.drift() < 1
    full = score_relevance(records, claims_df, topics).set_index(["claim_id", "pmid"])
    pd.testing.assert_series_equal(new.sort_index(), full["relevance"].sort_index())


def test_a_store_built_in_batches_scores_as_full_scores_would(
    tmp_path: Path, eutils_dir: Path, medline_dir: Path
) -> None:
    """Folding ~700 records in 11 batches (600, then 10 of ~9) as refreshes do: every stored
    relevance is within TOLERANCE of scoring all records at once, the links are those that
    scoring every record at every fold would have made (as before incremental relevance)
    except pairs within TOLERANCE of the threshold, and the term statistics are exact."""
    records = _real_records(eutils_dir, medline_dir)
    claims_df, topics = _registry_claims()
    registry = load_claims(REPO / "data" / "claims.yaml")
    store = Store.create(tmp_path / "store")
    cuts = [0, 600, *np.linspace(600, len(records), 11).astype(int)[1:]]
    incremental = 0
    full_scores = []  # each fold's full score, as the pipeline computed it before
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        batch = Batch(
            records=records.iloc[lo:hi], claims=claims_df, topic_queries=topics, registry=registry
        )
        now = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=i)
        run = f"run-{i}"
        store.update(lambda snap, b=batch, n=now, r=run: apply_batch(snap, b, r, n), actor="t")
        stats = CorpusStats.from_frame(store.read("term_stats"))
        incremental += stats.reference.docs < stats.current.docs  # scored with older statistics
        full = score_relevance(records.iloc[:hi], claims_df, topics)
        full_scores.append(full.set_index(["claim_id", "pmid"])["relevance"])
    assert incremental >= 3  # most batches did not score the whole store again

    links = store.read("links").set_index(["claim_id", "pmid"])
    full = full_scores[-1]
    assert (links["relevance"] - full.reindex(links.index, fill_value=0.0)).abs().max() <= TOLERANCE
    before = set().union(*(set(f.index[f >= DEFAULT_THRESHOLD]) for f in full_scores))
    assert len(before) > 10
    for pair in before ^ set(links.index):
        near = [abs(f.get(pair, 0.0) - DEFAULT_THRESHOLD) < TOLERANCE for f in full_scores]
        assert any(near), (pair, [f.get(pair, 0.0) for f in full_scores])
    exact = CorpusStats.of(term_rows(records, stats.vocabulary), stats.vocabulary).current
    assert stats.current == exact

"""BM25 relevance of records to claims, and candidate links that respect curators."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from evidence.relevance import candidate_links, query_terms, score_relevance
from evidence.schema import CLAIMS, LINKS

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

"""The curated-evidence importer: good JSONL and CSV, each kind of bad file, the real corpus."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from evidence.claims import load_claims
from evidence.curated import CuratedError, normalise_author, read_curated
from evidence.errors import ParseError
from evidence.schema import DESIGNS, LINKS, RECORD_FIELDS, TAGS
from tests.conftest import REPO, shared_path

CLAIMS = {"C01", "C02", "C03"}
NOW = pd.Timestamp("2026-01-02T03:04:05Z")


def entry(pmid: str = "90000001", **changes) -> dict:
    data = {
        "pmid": pmid,
        "doi": "10.0000/synthetic",
        "title": "SYNTHETIC test record",
        "journal": "Synthetic Journal",
        "year": 2020,
        "authors": ["Ada B Lovelace", "Turing AM"],
        "design": "cohort",
        "sample_size": 42,
        "population": "synthetic adults",
        "finding": "SYNTHETIC finding, 10% vs 20%.",
        "topics": ["ssri", "blunting"],
        "claims": [
            {"claim": "C02", "stance": "supports", "why": "SYNTHETIC reason two."},
            {"claim": "C01", "stance": "mixed", "why": "SYNTHETIC reason one."},
        ],
        "source_url": "https://example.org/synthetic",
    }
    data.update(changes)
    return data


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_curated__jsonl_frames(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [entry("90000002"), entry("90000001", year=None)])
    got = read_curated(path, CLAIMS, now=NOW)
    assert got.records.columns.tolist() == RECORD_FIELDS.names
    assert got.links.columns.tolist() == LINKS.columns
    assert got.tags.columns.tolist() == TAGS.columns
    assert got.records["pmid"].tolist() == ["90000001", "90000002"]
    rec = got.records.set_index("pmid").loc["90000002"]
    assert rec["source"] == "curated" and rec["pub_year"] == 2020 and rec["pub_date"] == "2020"
    assert list(rec["authors"]) == ["Lovelace AB", "Turing AM"]
    assert pd.isna(got.records.set_index("pmid").loc["90000001", "pub_year"])

    link = got.links.set_index(["claim_id", "pmid"]).loc[("C01", "90000002")]
    assert link["stance"] == "mixed" and link["stance_origin"] == "curator"
    assert link["note"].startswith("SYNTHETIC reason one.") and "Finding: SYNTHETIC" in link["note"]
    assert link["stance_evidence"] == "SYNTHETIC finding, 10% vs 20%."
    assert math.isnan(link["relevance"]) and not link["in_latest_query"]
    assert link["updated_at"] == NOW and link["updated_by"] == "curator import"
    assert got.links["claim_id"].tolist() == ["C01", "C01", "C02", "C02"]

    tags = got.tags[got.tags["pmid"] == "90000002"]
    assert set(zip(tags["kind"], tags["tag"], strict=True)) == {
        ("design", "cohort"),
        ("sample_size", "sample_size"),
        ("topic", "blunting"),
        ("topic", "ssri"),
    }
    assert tags.loc[tags["kind"] == "sample_size", "value"].item() == "42"
    assert (got.tags["origin"] == "curator").all() and (got.tags["confidence"] == 1.0).all()


def test_read_curated__hash_covers_bibliography_not_judgements(tmp_path):
    base = read_curated(write_jsonl(tmp_path / "a.jsonl", [entry()]), CLAIMS).records
    rejudged = entry(claims=[{"claim": "C03", "stance": "background"}], finding="other")
    same = read_curated(write_jsonl(tmp_path / "b.jsonl", [rejudged]), CLAIMS).records
    retitled = read_curated(write_jsonl(tmp_path / "c.jsonl", [entry(title="x")]), CLAIMS).records
    assert same["content_hash"].item() == base["content_hash"].item()
    assert retitled["content_hash"].item() != base["content_hash"].item()


def test_read_curated__twice_gives_identical_frames(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [entry("90000002"), entry("90000001")])
    first, second = read_curated(path, CLAIMS, now=NOW), read_curated(path, CLAIMS, now=NOW)
    for name in ("records", "links", "tags"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_read_curated__csv_rows_merge_by_pmid(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "pmid,claim,stance,note,title,year,authors,design,sample_size\n"
        "90000001,C01,supports,SYNTHETIC why,SYNTHETIC test record,2021,Ada B Lovelace; Turing AM,"
        "meta-analysis,12\n"
        "90000001,C03,background,SYNTHETIC context,,,,,\n"
        "90000003,C02,contradicts,SYNTHETIC other,,,,,\n",
        encoding="utf-8",
    )
    got = read_curated(path, CLAIMS, now=NOW)
    assert got.records["pmid"].tolist() == ["90000001", "90000003"]
    rec = got.records.iloc[0]
    assert rec["title"] == "SYNTHETIC test record" and rec["pub_year"] == 2021
    assert list(rec["authors"]) == ["Lovelace AB", "Turing AM"]
    assert list(zip(got.links["claim_id"], got.links["stance"], strict=True)) == [
        ("C01", "supports"),
        ("C02", "contradicts"),
        ("C03", "background"),
    ]
    assert got.tags.loc[got.tags["kind"] == "design", "tag"].tolist() == ["meta-analysis"]


@pytest.mark.parametrize(
    ("rows", "line", "field", "reason"),
    [
        ([entry(), entry("9000A")], 2, "pmid", "malformed PMID '9000A'"),
        ([entry("1234567890")], 1, "pmid", "malformed PMID"),
        ([entry(claims=[{"claim": "C99", "stance": "supports"}])], 1, "claim", "unknown claim id"),
        ([entry(claims=[{"claim": "C01", "stance": "agrees"}])], 1, "stance", "unknown stance"),
        ([entry(claims=[{"claim": "C01", "stance": "unassessed"}])], 1, "stance", "unknown"),
        ([entry(design="anecdote")], 1, "design", "unknown design 'anecdote'"),
        ([entry(), "{not json"], 2, "(json)", "bad JSON"),
        ([entry(extra=1)], 1, "extra", "unknown key"),
        ([entry(claims=[])], 1, "claims", "at least 1 item"),
        ([entry(sample_size="many")], 1, "sample_size", "valid integer"),
        ([entry(), entry()], 2, "pmid", "already on line 1"),
        (
            [entry(claims=[{"claim": "C01", "stance": "supports"}] * 2)],
            1,
            "claim",
            "judged twice",
        ),
        (
            [entry(claims=[{"claim": "C01", "stance": "supports", "direct": False}])],
            1,
            "indirect_because",
            "say why",
        ),
        (
            [entry(claims=[{"claim": "C01", "stance": "supports", "indirect_because": "ECT"}])],
            1,
            "indirect_because",
            "'direct' is not false",
        ),
        ([entry(pub_month="Smarch")], 1, "pub_month", "not a month"),
    ],
)
def test_read_curated__bad_jsonl(tmp_path, rows, line, field, reason):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert isinstance(info.value, ParseError)
    assert str(info.value).startswith(f"{path}:{line}: field {field!r}: ")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("pmid,claim,stance\n1,C01,supports\n", 1, "note", "missing column"),
        ("pmid,claim,stance,note,colour\n", 1, "colour", "unknown column"),
        ("pmid,claim,stance,note\n1,C01,supports,x\nabc,C01,supports,x\n", 3, "pmid", "malformed"),
        ("pmid,claim,stance,note\n1,C07,supports,x\n", 2, "claim", "unknown claim id 'C07'"),
        ("pmid,claim,stance,note\n1,C01,maybe,x\n", 2, "stance", "unknown stance"),
        ("pmid,claim,stance,note,year\n1,C01,supports,x,20x0\n", 2, "year", "not a whole"),
        (
            "pmid,claim,stance,note,title\n1,C01,supports,x,A\n1,C02,mixed,y,B\n",
            3,
            "title",
            "differs from line 2",
        ),
    ],
)
def test_read_curated__bad_csv(tmp_path, text, line, field, reason):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert str(info.value).startswith(f"{path}:{line}: field {field!r}: ")
    assert reason in str(info.value)


def test_read_curated__bad_file_kind(tmp_path):
    with pytest.raises(CuratedError, match="expected a .jsonl or .csv"):
        read_curated(tmp_path / "c.xlsx", CLAIMS)
    with pytest.raises(CuratedError, match="cannot read"):
        read_curated(tmp_path / "absent.jsonl", CLAIMS)


def test_read_curated__unknown_topic_when_topics_given(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [entry(topics=["ect"])])
    assert len(read_curated(path, CLAIMS).records) == 1
    with pytest.raises(CuratedError, match="unknown topic 'ect'"):
        read_curated(path, CLAIMS, topics={"ssri", "blunting", "tms"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Savitha Eranti", "Eranti S"),
        ("Richard G Brown", "Brown RG"),
        ("Jean-Paul Sartre", "Sartre JP"),
        ("Ludwig van Beethoven", "van Beethoven L"),
        ("Martin Luther King Jr", "King ML Jr"),
        ("Goodwin GM", "Goodwin GM"),
        ("El Mansari M", "El Mansari M"),
        ("Holtzheimer PE III", "Holtzheimer PE III"),
        ("Aydemir \u00d6", "Aydemir \u00d6"),
        ("Herwig", "Herwig"),
    ],
)
def test_normalise_author(name, expected):
    assert normalise_author(name) == expected


def readme_counts(readme: str) -> dict[str, tuple[int, int, int, int]]:
    """The README's "C01 4/0/2/2" stance counts (supports / mixed / contradicts / background)."""
    found = re.findall(r"\b(C\d\d) (\d+)/(\d+)/(\d+)/(\d+)", readme)
    return {c: tuple(int(n) for n in nums) for c, *nums in found}


def test_read_curated__the_shared_corpus():
    corpus = shared_path("corpus", "curated_evidence.jsonl")
    registry = load_claims(REPO / "data" / "claims.yaml")
    got = read_curated(corpus, registry.claim_ids, now=NOW, topics=set(registry.topics))
    raw = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line]

    assert len(got.records) == len(raw) == 67
    assert set(got.records["pmid"]) == {r["pmid"] for r in raw}
    assert (got.records["source"] == "curated").all()
    assert got.records["content_hash"].is_unique

    counts = Counter((c["claim"], c["stance"]) for r in raw for c in r["claims"])
    assert Counter(zip(got.links["claim_id"], got.links["stance"], strict=True)) == counts
    stated = readme_counts((corpus.parent / "README.md").read_text(encoding="utf-8"))
    assert len(stated) == 17
    for claim, (sup, mixed, contra, backg) in stated.items():
        n = got.links[got.links["claim_id"] == claim]["stance"].value_counts()
        assert (n.get("supports", 0), n.get("mixed", 0)) == (sup, mixed), claim
        assert (n.get("contradicts", 0), n.get("background", 0)) == (contra, backg), claim

    by_pmid = {r["pmid"]: r for r in raw}
    for rec in got.records.itertuples():
        src = by_pmid[rec.pmid]
        assert rec.journal_iso == src.get("journal_abbrev", "")
        assert (rec.volume, rec.issue, rec.pages) == tuple(
            src.get(k, "") for k in ("volume", "issue", "pages")
        )
        assert rec.pmcid == src.get("pmcid", "")
        if src.get("pub_month") and src.get("year"):
            assert rec.pub_date.startswith(f"{src['year']}-")
            assert rec.pub_date_text == f"{src['year']} {src['pub_month']}"
    assert sum(1 for r in raw for c in r["claims"] if c.get("direct") is False) >= 6

    designs = got.tags[got.tags["kind"] == "design"]
    assert len(designs) == 67 and set(designs["tag"]) <= set(DESIGNS)
    sized = got.tags[got.tags["kind"] == "sample_size"]
    assert len(sized) == sum(r["sample_size"] is not None for r in raw)


def test_curated_import__into_store_tables_twice_changes_nothing(tmp_path):
    """Through the store's own merges: a second import of the same file leaves every table equal."""
    from evidence.merges import upsert_links, upsert_records
    from evidence.schema import RECORDS

    path = write_jsonl(tmp_path / "c.jsonl", [entry("90000002"), entry("90000001")])
    records, links = RECORDS.empty(), LINKS.empty()
    states = []
    for _ in range(2):
        got = read_curated(path, CLAIMS, now=NOW, run_id="import-1")
        records, changes = upsert_records(records, got.records, run_id="import-1", now=NOW)
        links = upsert_links(links, got.links)
        states.append((records, links, changes))
    (rec1, links1, _), (rec2, links2, changes2) = states
    pd.testing.assert_frame_equal(rec1, rec2)
    pd.testing.assert_frame_equal(links1, links2)
    assert changes2.empty
    assert (rec2["origin"] == "curated").all() and len(links2) == 4

"""The claims registry: the real file loads; each bad file fails naming file, claim and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evidence.claims import ClaimsError, check_query, claims_frame, load_claims
from evidence.errors import ParseError
from evidence.schema import CLAIMS
from tests.conftest import REPO, shared_path

POST = """---
title: SYNTHETIC post
---

# SYNTHETIC post

Widgets cure   boredom in most people.
The doctor\u2019s view is that gadgets (not widgets) help [sometimes].
"""

GOOD = {
    "sources": [{"file": "post.md", "title": "SYNTHETIC post"}],
    "topics": {
        "tms": {"label": "TMS", "query": '"Transcranial Magnetic Stimulation"[MeSH] OR rTMS[tiab]'},
        "ssri": {"label": "SSRIs", "query": '"Serotonin Uptake Inhibitors"[MeSH]'},
    },
    "claims": [
        {
            "id": "C01",
            "statement": "Widgets cure boredom.",
            "quote": "Widgets cure boredom in most people.",
            "topics": ["tms"],
            "query": '("widget*"[tiab] OR "Boredom"[MeSH]) AND cure[tiab]',
            "content": "post.md",
        },
        {
            "id": "C02",
            "statement": "Gadgets help.",
            "quote": "The doctor's view is that gadgets (not widgets) help [sometimes].",
            "topics": ["tms", "ssri"],
            "query": '"gadgets (not widgets)"[tiab] AND help[tiab]',
            "content": "post.md",
        },
    ],
}


def write(tmp_path: Path, data: dict | str, post: str = POST) -> Path:
    (tmp_path / "content").mkdir(exist_ok=True)
    (tmp_path / "content" / "post.md").write_text(post, encoding="utf-8")
    path = tmp_path / "claims.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def bad(tmp_path: Path, data: dict | str) -> ClaimsError:
    with pytest.raises(ClaimsError) as info:
        load_claims(write(tmp_path, data))
    assert str(tmp_path / "claims.yaml") in str(info.value)
    assert isinstance(info.value, ParseError)
    return info.value


def variant(claim: int = 0, **changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for key, value in changes.items():
        if value is None:
            del data["claims"][claim][key]
        else:
            data["claims"][claim][key] = value
    return data


def test_load_claims__good_file_spans_point_at_raw_quotes(tmp_path):
    registry = load_claims(write(tmp_path, GOOD))
    assert [c.id for c in registry.claims] == ["C01", "C02"]
    assert set(registry.topics) == {"tms", "ssri"}
    text = POST
    s, e = registry.spans["C01"]
    assert text[s:e] == "Widgets cure   boredom in most people."
    s, e = registry.spans["C02"]
    assert text[s:e].startswith("The doctor\u2019s view") and text[s:e].endswith("[sometimes].")


def test_claims_frame__shaped_like_claims_table(tmp_path):
    frame = claims_frame(load_claims(write(tmp_path, GOOD)))
    assert list(frame.columns) == CLAIMS.columns
    CLAIMS.to_arrow(frame)  # raises if a dtype does not fit
    row = frame.set_index("claim_id").loc["C02"]
    assert list(row["topics"]) == ["tms", "ssri"]
    assert row["content_file"] == "post.md"
    assert POST[row["quote_start"] : row["quote_end"]].endswith("help [sometimes].")


def test_load_claims__content_dir_override(tmp_path):
    path = write(tmp_path, GOOD)
    elsewhere = tmp_path / "posts"
    (tmp_path / "content").rename(elsewhere)
    assert len(load_claims(path, content_dir=elsewhere).claims) == 2
    with pytest.raises(ClaimsError, match="field 'content'"):
        load_claims(path)


@pytest.mark.parametrize(
    ("data", "claim", "field", "reason"),
    [
        (variant(extra="x"), "C01", "extra", "unknown key"),
        (variant(statement=None), "C01", "statement", "Field required"),
        (variant(statement="   "), "C01", "statement", "at least 1 character"),
        (variant(1, id="C01"), "C01", "id", "duplicate id"),
        (variant(id="claim one"), "claim one", "id", "should match pattern"),
        (variant(quote="Widgets never cure boredom."), "C01", "quote", "not found in content"),
        (variant(query='"widget[tiab] AND cure[tiab]'), "C01", "query", "unbalanced '\"'"),
        (variant(query="(widget[tiab] AND cure[tiab]"), "C01", "query", "unbalanced '('"),
        (variant(query="widget[tiab] AND cure[tiab])"), "C01", "query", "unbalanced ')'"),
        (variant(query="widget[tiab AND cure"), "C01", "query", "unbalanced '['"),
        (variant(query="widget[tiab] AND (cure[tiab]]"), "C01", "query", "unbalanced ']'"),
        (variant(query="widget[tibia]"), "C01", "query", "unknown PubMed field tag"),
        (variant(topics=["tms", "ect"]), "C01", "topics", "unknown ['ect']"),
        (variant(topics=[]), "C01", "topics", "at least 1 item"),
        (variant(content="missing.md"), "C01", "content", "does not exist"),
    ],
)
def test_load_claims__bad_claim(tmp_path, data, claim, field, reason):
    error = bad(tmp_path, data)
    assert f"claim {claim}, field {field!r}: " in str(error)
    assert reason in str(error)


def test_load_claims__missing_id_is_named_by_position(tmp_path):
    error = bad(tmp_path, variant(1, id=None))
    assert "claim #2, field 'id': Field required" in str(error)


def test_load_claims__reports_every_problem(tmp_path):
    data = variant(quote="nowhere in the post")
    data["claims"][1]["query"] = "(unclosed[tiab]"
    error = bad(tmp_path, data)
    assert [(p.claim, p.field) for p in error.problems] == [("C01", "quote"), ("C02", "query")]


def test_load_claims__bad_topic_query(tmp_path):
    data = variant()
    data["topics"]["ssri"]["query"] = '"Serotonin Uptake Inhibitors[MeSH]'
    assert "field 'topics.ssri.query': unbalanced" in str(bad(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("claims: [\n  - id: C01\n", "line 2"),
        ("topics: {}\ntopics: {}\nclaims: []\n", "duplicate key 'topics'"),
        ("- just\n- a list\n", "expected a mapping"),
        ("claims: []\n", "field 'topics': Field required"),
    ],
)
def test_load_claims__bad_file(tmp_path, text, reason):
    assert reason in str(bad(tmp_path, text))


def test_check_query__brackets_inside_phrases_are_text():
    assert check_query('"a (b"[tiab] AND "c]"[tiab]') is None
    assert check_query('"emotional blunt*"[tiab] AND ("x"[MeSH] OR y[tiab:~3])') is None
    assert check_query("a[tiab] AND (b[tiab]") == "unbalanced '(' opened at character 13"


def test_repo_registry__loads_all_claims_with_queries():
    registry = load_claims(REPO / "data" / "claims.yaml")
    assert set(registry.topics) == {"tms", "blunting", "ssri"}
    frame = claims_frame(registry)
    assert frame["claim_id"].tolist() == [f"C{i:02d}" for i in range(1, 18)]
    assert (frame["quote_end"] > frame["quote_start"]).all()
    assert frame["query"].str.contains(r"\[(?:MeSH|tiab)\]").all()


def test_repo_registry__matches_the_clinics_claim_list():
    source = yaml.safe_load(shared_path("content", "claims.yaml").read_text(encoding="utf-8"))
    registry = load_claims(REPO / "data" / "claims.yaml")
    ours = {c.id: (c.statement, c.quote, c.topics) for c in registry.claims}
    theirs = {c["id"]: (c["statement"], c["quote"], c["topics"]) for c in source["claims"]}
    assert ours == theirs
    assert all(c.content == source["source"]["file"] for c in registry.claims)


def with_parts(parts: list[dict], claim: int = 0) -> dict:
    data = variant(claim)
    data["claims"][claim]["parts"] = parts
    return data


PART_A = {"id": "C01a", "statement": "Widgets cure boredom.", "evidence": ["90000001"]}
PART_B = {"id": "C01b", "statement": "In most people.", "gap": "no study counts people"}


def test_load_claims__parts_and_tested_question(tmp_path):
    data = with_parts([PART_A, {**PART_B, "evidence": [90000002]}])
    data["claims"][0]["tested_question"] = "widgets for boredom"
    claim = load_claims(write(tmp_path, data)).claim("C01")
    assert [p.id for p in claim.parts] == ["C01a", "C01b"]
    assert claim.parts[1].evidence == ["90000002"]  # an unquoted YAML PMID is read as text
    assert (claim.parts[1].gap, claim.tested_question) == (
        "no study counts people",
        "widgets for boredom",
    )


@pytest.mark.parametrize(
    ("parts", "field", "reason"),
    [
        ([PART_A], "parts", "needs at least two"),
        ([PART_A, {**PART_B, "id": "C02b"}], "parts.C02b.id", "must be C01a"),
        ([PART_A, {**PART_B, "id": "C01a"}], "parts.C01a", "duplicate part id"),
        ([PART_A, {**PART_B, "evidence": ["12AB"]}], "parts.C01b.evidence", "malformed PMID"),
        ([PART_A, {**PART_B, "evidence": ["1", "1"]}], "parts.C01b.evidence", "listed twice"),
        ([PART_A, {**PART_B, "id": "C01-b"}], "parts.1.id", "should match pattern"),
        ([PART_A, {**PART_B, "statement": ""}], "parts.1.statement", "at least 1 character"),
        ([PART_A, {**PART_B, "extra": 1}], "parts.1.extra", "unknown key"),
    ],
)
def test_load_claims__bad_parts_name_claim_and_field(tmp_path, parts, field, reason):
    error = bad(tmp_path, with_parts(parts))
    assert f"claim C01, field {field!r}: " in str(error)
    assert reason in str(error)


def test_repo_registry__parts_list_only_the_claims_own_curated_studies():
    """A part's PMIDs are curated links of its claim (none invented), and a split claim lists
    every one of its curated studies under some part (none silently bears on every part)."""
    import json

    linked: dict[str, set[str]] = {}
    for line in (REPO / "data" / "corpus" / "curated_evidence.jsonl").read_text().splitlines():
        entry = json.loads(line)
        for judgement in entry["claims"]:
            linked.setdefault(judgement["claim"], set()).add(str(entry["pmid"]))
    registry = load_claims(REPO / "data" / "claims.yaml")
    split = {c.id: c for c in registry.claims if c.parts}
    assert {"C11", "C13", "C14", "C15"} <= set(split)
    for claim in split.values():
        listed = {pmid for part in claim.parts for pmid in part.evidence}
        assert listed <= linked[claim.id], (claim.id, listed - linked[claim.id])
        assert listed == linked[claim.id], (claim.id, linked[claim.id] - listed)
    c14 = {p.id: p for p in split["C14"].parts}
    assert set(c14["C14b"].evidence) == {"37657200", "39725000"}
    assert "20–40 minute session length" in c14["C14b"].gap
    assert registry.claim("C12").tested_question and registry.claim("C13").tested_question

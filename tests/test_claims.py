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

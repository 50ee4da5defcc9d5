"""Claim extraction: sentence offsets, which sentences are proposed, the draft file, the script."""

from __future__ import annotations

import importlib.util

import yaml

from evidence.content import read_post
from evidence.extraction import Proposal, draft_yaml, propose_claims, score, sentences
from tests.conftest import REPO

TEXT = """---
title: SYNTHETIC post
---

# What TMS does

TMS improves mood in most patients. Does TMS help everyone? It is given daily.
The weather was nice. You can ask us about TMS today.

- TMS is worth considering if:
- Antidepressants can cause emotional blunting.
"""


def load_script(name: str, folder: str = "scripts"):
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sentences__offsets_point_at_raw_text_and_skip_headings():
    found = list(sentences(TEXT))
    assert all(TEXT[s.start : s.end] == s.text for s in found)
    texts = [s.text for s in found]
    assert "What TMS does" not in " ".join(texts)
    assert "title: SYNTHETIC post" not in " ".join(texts)
    assert texts[0] == "TMS improves mood in most patients."
    assert "Antidepressants can cause emotional blunting." in texts  # list marker stripped


def test_propose_claims__topic_plus_cue_only():
    proposed = {p.text: p for p in propose_claims(TEXT)}
    assert set(proposed) == {
        "TMS improves mood in most patients.",
        "It is given daily.",  # pronoun continues the previous sentence's topic
        "Antidepressants can cause emotional blunting.",
    }
    assert proposed["Antidepressants can cause emotional blunting."].topics == ("blunting", "ssri")
    assert "causal" in proposed["Antidepressants can cause emotional blunting."].cues
    assert "quantity" in proposed["TMS improves mood in most patients."].cues


def test_draft_yaml__parses_with_ids_quotes_topics():
    proposals = propose_claims(TEXT)
    draft = yaml.safe_load(draft_yaml(proposals, "post.md"))
    assert [c["id"] for c in draft["claims"]] == ["D01", "D02", "D03"]
    assert [c["quote"] for c in draft["claims"]] == [p.text for p in proposals]
    assert draft["claims"][2]["topics"] == ["blunting", "ssri"]
    assert all(c["content"] == "post.md" and c["query"] == "" for c in draft["claims"])
    assert yaml.safe_load(draft_yaml([], "post.md")) == {"claims": []}


def test_score__overlap_defines_found_and_true():
    proposals = [Proposal(0, 10, "a", ("tms",), ("causal",)), Proposal(20, 30, "b", (), ())]
    result = score(proposals, {"C1": (5, 15), "C2": (40, 50), "C3": (29, 35)})
    assert result.found == ("C1", "C3") and result.missed == ("C2",)
    assert result.n_true_proposals == 2 and result.precision == 1.0
    assert abs(result.recall - 2 / 3) < 1e-9


def test_extract_claims_script__markdown_and_html(tmp_path, capsys):
    script = load_script("extract_claims")
    post = tmp_path / "post.md"
    post.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "draft.yaml"
    assert script.main([str(post), "-o", str(out)]) == 0
    from_md = yaml.safe_load(out.read_text(encoding="utf-8"))["claims"]

    html = tmp_path / "post.html"
    html.write_text(
        "<html><body><h1>What TMS does</h1><p>TMS improves mood in most patients. "
        "Does TMS help everyone? It is given <em>daily</em>.</p></body></html>",
        encoding="utf-8",
    )
    assert script.main([str(html)]) == 0
    from_html = yaml.safe_load(capsys.readouterr().out)["claims"]
    assert [c["quote"] for c in from_html] == [c["quote"] for c in from_md[:2]]
    assert from_html[0]["content"] == "post.html"

    assert script.main([str(tmp_path / "post.txt")]) == 1
    assert "post.txt" in capsys.readouterr().err


def test_extract_claims_script__on_the_clinics_post(tmp_path):
    post = REPO / "data" / "content" / "tms-emotional-blunting.md"
    out = tmp_path / "draft.yaml"
    assert load_script("extract_claims").main([str(post), "-o", str(out)]) == 0
    text = read_post(post).text
    claims = yaml.safe_load(out.read_text(encoding="utf-8"))["claims"]
    assert claims and all(c["quote"] in text for c in claims)
    assert len({c["id"] for c in claims}) == len(claims)


def test_benchmark_prints_recall_and_precision(capsys):
    assert load_script("extract_claims", "benchmarks").main([]) == 0
    out = capsys.readouterr().out
    assert "tms-emotional-blunting.md: recall " in out and "precision " in out
    assert "overlaps" in out  # the definition of "found" is printed

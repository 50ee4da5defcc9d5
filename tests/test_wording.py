"""The wording check on the real default store: flags, reasons, suggestions, CLI and dashboard.

The store is the bundled curated evidence built with `build_default_store` into a temp copy of
the data folder, so the verdicts are the ones the clinic sees.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from evidence import views, wording
from evidence.cli import main
from evidence.errors import ParseError
from evidence.levels import CERTAINTIES, GRADES
from evidence.pipeline import build_default_store
from evidence.store import Store
from tests.conftest import copy_default_data

POST = "tms-emotional-blunting.md"
LABELS = Path(__file__).with_name("wording_labels.yaml")
APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = frozenset(
    str.split(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fifteen "
        "twenty thirty forty fifty hundred thousand million half quarter dozen once twice"
    )
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = copy_default_data(tmp_path_factory.mktemp("wording") / "data")
    build_default_store(data, data / "store")
    return data


@pytest.fixture(scope="module")
def registry(data: Path):
    return views.load_registry(data)


@pytest.fixture(scope="module")
def verdicts(data: Path, registry):
    return views.current_verdicts(Store.open(data / "store").snapshot(), registry=registry)


@pytest.fixture(scope="module")
def checks(verdicts, registry) -> dict[str, wording.WordingCheck]:
    return {c.claim_id: c for c in wording.check_post(verdicts, registry, POST)}


# --- the rules ---------------------------------------------------------------------------------


def _packaged() -> dict:
    return yaml.safe_load(resources.files("evidence").joinpath("wording.yaml").read_text("utf-8"))


def test_allowed_table_covers_every_grade_and_certainty_and_follows_grade() -> None:
    rules = wording.load_rules()
    assert {(g, c) for g in GRADES for c in CERTAINTIES} == {
        (g, c) for g, row in rules.allowed.items() for c in row
    }
    assert rules.allows("Well supported", "high") == "established"
    assert rules.allows("Supported", "moderate") == "general"
    assert rules.allows("Limited", "high") == "hedged"
    assert rules.allows("Supported", "very low") == "qualified"
    assert {rules.allows("Contradicted", c) for c in CERTAINTIES} == {"qualified"}
    assert {rules.allows("No evidence found", c) for c in CERTAINTIES} == {"qualified"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["allowed"].pop("Limited"), "allowed"),
        (lambda r: r["allowed"]["Supported"].pop("low"), "allowed.Supported"),
        (lambda r: r["allowed"]["Supported"].update(low="established"), "allowed.Supported"),
        (lambda r: r["allowed"]["Limited"].update(high="certain"), "allowed.Limited.high"),
        (lambda r: r["cues"]["hedged"].append("* may"), "cues.hedged"),
        (lambda r: r["cues"].update(general=[]), "cues"),
        (lambda r: r.update(colour="red"), "colour: unknown key"),
        (lambda r: r.update(similar_sentence=2), "similar_sentence"),
    ],
)
def test_a_bad_rules_file_fails_naming_the_field(tmp_path: Path, change, field: str) -> None:
    raw = _packaged()
    change(raw)
    path = tmp_path / "wording.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParseError, match=re.escape(field)):
        wording.load_rules(path)


@pytest.mark.parametrize(
    ("sentence", "strength", "cues", "research"),
    [
        ("Most people begin to notice changes within a few weeks.", "general", ("Most",), ()),
        ("One of the most common experiences is emotional flatness.", "general",
         ("most", "common"), ()),
        ("It does not rely on systemic changes in the brain.", "established", (), ()),
        ("TMS is an evidence-based therapy.", "established", ("evidence-based",),
         ("evidence-based",)),
        ("Research and clinical experience suggest that TMS may help.", "hedged",
         ("suggest", "may"), ("Research and clinical experience suggest",)),
        ("It is possible, in some cases, to wean off medications.", "hedged",
         ("possible", "in some cases"), ()),
        # "You can" tells the reader what they are able to do: a fact, not a hedge.
        ("You can resume normal activities right after each session.", "established", (), ()),
        ("Some studies suggest that most people improve, but the evidence is mixed.",
         "qualified", ("evidence is mixed",), ("studies suggest",)),
        ("TMS can improve mood.", "hedged", ("can",), ()),  # "improve" is not "prove"
        ("No study has yet tested TMS for blunting (PMID 123).", "qualified", ("No study",), ()),
    ],
)  # fmt: skip
def test_wording_strength_of_a_sentence(sentence, strength, cues, research) -> None:
    w = wording.wording_of(sentence)
    assert (w.strength, w.cues, w.research) == (strength, cues, research)


# --- the clinic's post -------------------------------------------------------------------------


def test_the_issue_sentences_are_flagged_with_a_reason(checks, verdicts) -> None:
    """Issue 14: "most common", "most people ... within a few weeks", "possible, in some cases"."""
    assert [checks[c].grade for c in ("C01", "C16", "C13")] == [
        "Contested",
        "Contradicted",
        "Contradicted",
    ]
    c01, c16, c13 = checks["C01"], checks["C16"], checks["C13"]
    assert c01.flagged and c01.strength == "general" and c01.cues == ("most", "common")
    assert "the evidence is mixed (Contested, moderate certainty)" in c01.reason
    assert c16.flagged and c16.cues == ("Most",)
    assert "the evidence points against it (Contradicted" in c16.reason
    assert c13.flagged and c13.strength == "hedged"  # hedged, yet still beyond the evidence
    assert (
        "no study has tested it directly and the closest evidence points against it" in c13.reason
    )
    assert "Part C13b too" in c13.reason
    assert c16.line.startswith("C16 FLAG Stated as the general case (“Most”)")
    assert checks["C07"].line.startswith("C07 ok Stated as fact")


def test_research_wording_without_a_direct_study_is_flagged(checks, verdicts) -> None:
    c12 = checks["C12"]
    assert verdicts["C12"].best_direct_design is None  # no study tests TMS for blunting
    assert (
        c12.flagged and "cites research (“Research and clinical experience suggest”)" in c12.reason
    )
    c17 = checks["C17"]  # "evidence based", and meta-analyses test it directly
    assert c17.units[0].research == ("evidence based",) and not c17.flagged


def test_every_unit_is_held_to_the_table_for_its_own_verdict(checks, verdicts) -> None:
    rules = wording.load_rules()
    for claim_id, check in checks.items():
        v = verdicts[claim_id]
        own = {p.part_id: p for p in v.parts} or {claim_id: v}
        assert [u.unit_id for u in check.units] == list(own)
        for u in check.units:
            assert (u.grade, u.certainty) == (own[u.unit_id].grade, own[u.unit_id].certainty)
            assert u.allowed == rules.allows(u.grade, u.certainty)
            over = wording.STRENGTHS.index(u.strength) > wording.STRENGTHS.index(u.allowed)
            assert u.flagged == (over or "cites research" in u.reason)
        assert check.flagged == any(u.flagged for u in check.units)


def test_a_split_claim_is_judged_sentence_by_part(checks) -> None:
    c14 = {u.unit_id: u for u in checks["C14"].units}
    assert c14["C14a"].sentences == (
        "TMS treatment typically involves sessions five days per week for four to six weeks.",
    )
    assert not c14["C14a"].flagged  # "typically", Supported at moderate certainty
    assert c14["C14b"].sentences == ("Each session lasts about 20 to 40 minutes.",)
    assert c14["C14b"].flagged and c14["C14b"].strength == "established"
    # The schedule sentence is kept; only the session length is reworded.
    assert checks["C14"].suggestion.startswith(c14["C14a"].sentences[0] + " No study confirms")


def test_a_premise_sentence_is_not_held_against_the_claim(checks) -> None:
    """C03: "SSRIs ... change the way neurotransmitters work. These changes can reduce ..."."""
    (unit,) = checks["C03"].units
    assert unit.sentences == (
        "These changes can reduce the intensity of both negative and positive emotions.",
    )
    assert unit.strength == "hedged" and not checks["C03"].flagged


def _numbers(text: str) -> set[str]:
    words = {w for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    return {n.replace(",", "") for n in _NUMBER.findall(text)} | words


def _claim_and_evidence_text(claim, verdict) -> str:
    texts = [claim.quote, claim.statement, claim.tested_question]
    for part in claim.parts:
        texts += [part.statement, part.gap, part.tested_question]
    texts += [*verdict.plain, *verdict.details]
    studies = list(verdict.deciding)
    for part in verdict.parts:
        texts += part.plain
        studies += part.deciding
    for d in studies:
        texts += [d.pmid, str(d.year or ""), str(d.sample_size or ""), d.reading]
    return " ".join(texts)


def test_a_suggestion_adds_no_number_not_in_the_claim_or_the_evidence(
    checks, verdicts, registry
) -> None:
    flagged = [c for c in checks.values() if c.flagged]
    assert len(flagged) >= 3
    for c in flagged:
        allowed = _numbers(
            _claim_and_evidence_text(registry.claim(c.claim_id), verdicts[c.claim_id])
        )
        assert _numbers(c.suggestion) <= allowed, (c.claim_id, _numbers(c.suggestion) - allowed)


def test_a_suggestion_cites_the_deciding_studies_it_leans_on(checks, verdicts) -> None:
    for c in (c for c in checks.values() if c.flagged):
        v = verdicts[c.claim_id]
        deciding = {d.pmid for d in v.deciding} | {d.pmid for p in v.parts for d in p.deciding}
        cited = set(re.findall(r"\b\d{6,8}\b", c.suggestion))
        assert cited == set(c.pmids) and cited <= deciding, c.claim_id
        if any(u.flagged and u.grade != "No evidence found" for u in c.units):
            assert cited, c.claim_id
    c16 = checks["C16"]
    assert c16.pmids == ("17978325",)
    assert "A randomized controlled trial of 127 participants (2007) points against it" in (
        c16.suggestion
    )
    assert "No study has yet tested TMS for antidepressant-induced emotional blunting" in (
        checks["C12"].suggestion
    )


def test_a_suggestion_passes_the_check_it_came_from(checks, verdicts, registry) -> None:
    for c in (c for c in checks.values() if c.flagged):
        claim = registry.claim(c.claim_id)
        again = wording.check_claim(claim, verdicts[c.claim_id], c.suggestion)
        assert not again.flagged, (c.claim_id, again.reason)


def test_labelled_flags_precision_and_recall(checks, registry) -> None:
    """The hand labels (written before the rules): every should-flag claim is flagged."""
    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["labels"]
    assert sorted(labels) == sorted(c.id for c in registry.claims)
    truth = {cid for cid, label in labels.items() if label["flag"]}
    got = {cid for cid, c in checks.items() if c.flagged}
    precision = len(got & truth) / len(got)
    recall = len(got & truth) / len(truth)
    assert recall == 1.0 and precision >= 0.9, (sorted(got - truth), sorted(truth - got))


def test_check_post_grades_a_snapshot_like_the_dashboard(data, registry, checks) -> None:
    snap = Store.open(data / "store").snapshot()
    again = wording.check_post(snap, registry, POST)
    assert [(c.claim_id, c.flagged, c.suggestion) for c in again] == [
        (c.claim_id, c.flagged, c.suggestion) for c in checks.values()
    ]
    assert [c.claim_id for c in again] == sorted(c.claim_id for c in again)  # post order
    assert all(c.found == "quote" and c.span is not None for c in again)


def _draft(data: Path, tmp_path: Path, checks, edits: dict[str, str | None]) -> Path:
    """A copy of the post with claims' sentences replaced (None: removed)."""
    text = (data / "content" / POST).read_text(encoding="utf-8")
    for claim_id, new in edits.items():
        old = checks[claim_id].sentence
        assert old in text, claim_id
        text = text.replace(old, new or "")
    path = tmp_path / "draft.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_edited_post_is_checked_sentence_by_sentence(
    data, tmp_path, checks, verdicts, registry
) -> None:
    draft = _draft(
        data,
        tmp_path,
        checks,
        {
            "C16": checks["C16"].suggestion,  # pasted as suggested
            "C01": "One of the commonest experiences is emotional flatness.",  # still too strong
            "C05": None,  # removed
        },
    )
    found = {c.claim_id: c for c in wording.check_post(verdicts, registry, draft, claims_of=POST)}
    assert (found["C16"].found, found["C16"].flagged) == ("suggestion", False)
    assert found["C01"].found == "similar" and found["C01"].flagged
    assert found["C01"].sentence == "One of the commonest experiences is emotional flatness."
    assert found["C05"].found == "missing" and found["C05"].flagged
    assert "not in this post" in found["C05"].reason
    assert found["C07"].found == "quote" and not found["C07"].flagged


# --- the command -------------------------------------------------------------------------------


def test_command_prints_one_line_per_claim_and_exits_1_when_flagged(data, checks, capsys) -> None:
    assert main(["--data-dir", str(data), "check-wording", POST]) == 1
    out = capsys.readouterr().out.splitlines()
    heads = [line for line in out if re.match(r"^C\d\d (FLAG|ok) ", line)]
    assert [h.split()[0] for h in heads] == list(checks)
    assert {h.split()[1] for h in heads} == {"FLAG", "ok"}
    i = out.index(checks["C16"].line)
    assert out[i + 1] == "    sentence: Most people begin to notice changes within a few weeks."
    assert out[i + 2] == f"    suggest:  {checks['C16'].suggestion}"
    n = sum(c.flagged for c in checks.values())
    assert out[0] == f"{POST}: 17 claims, {n} worded more strongly than their evidence"


def test_command_passes_a_draft_with_every_suggestion_pasted(
    data, tmp_path, checks, capsys
) -> None:
    edits = {cid: c.suggestion for cid, c in checks.items() if c.flagged}
    draft = _draft(data, tmp_path, checks, edits)
    assert main(["--data-dir", str(data), "check-wording", str(draft), "--as", POST]) == 0
    out = capsys.readouterr().out
    assert " FLAG " not in out and out.count(" ok ") == 17


def test_command_usage_errors_exit_2(data, tmp_path, capsys) -> None:
    assert main(["--data-dir", str(data), "check-wording", "no-such-post.md"]) == 2
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "other.md"
    other.write_text("# Another post\n\nNothing here.\n", encoding="utf-8")
    assert main(["--data-dir", str(data), "check-wording", str(other)]) == 2
    assert "--as NAME" in capsys.readouterr().err


# --- the dashboard -----------------------------------------------------------------------------


def test_content_view_shows_flags_reasons_and_copyable_suggestions(
    data, checks, monkeypatch
) -> None:
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(data))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/content.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    html = "\n".join(m.value for m in at.markdown)
    assert "Wording check for editors" in [s.value for s in at.subheader]
    flagged = [c for c in checks.values() if c.flagged]
    assert f"**{len(flagged)} of 17 claims**" in html
    for c in flagged:
        assert f">{c.claim_id} FLAG</b>" in html  # the flag, beside the reason
        assert f"{c.claim_id}&#160;&#9873;" in html  # the mark in the post itself
    assert [code.value for code in at.code] == [c.suggestion for c in flagged]  # st.code: copy
    assert "C07 ok" not in html and "C07&#160;&#9873;" not in html
    at.toggle(key="wording_show_ok").set_value(True).run()
    html = "\n".join(m.value for m in at.markdown)
    assert ">C07 ok</b>" in html

"""Every dashboard page in Streamlit's AppTest, on a real store built in a temp dir."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evidence import citations, overview_view, views
from evidence.store import Store
from tests.dashboard_store import EDITOR, EDITOR_PASSWORD, XSS_PMID, make_data_dir

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = make_data_dir(tmp_path)
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(data))
    return data


@pytest.fixture
def app(data_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _goto(at: AppTest, page: str, **state) -> AppTest:
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _html(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _first_screen(at: AppTest) -> dict[str, str]:
    """The overview's first-screen rows in order: claim id -> the row's HTML."""
    html = next(m.value for m in at.markdown if "data-claim=" in m.value)
    return dict(re.findall(r'<tr data-claim="([A-Z]+[0-9]+)">(.*?)</tr>', html))


def _stored_grade(data_dir: Path, claim_id: str) -> str:
    v = Store.open(data_dir / "store").read("verdicts")
    return v.set_index("claim_id").at[claim_id, "grade"]


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.sidebar.text_input(key="sign_in_name").input(name)
    at.sidebar.text_input(key="sign_in_password").input(password)
    at.sidebar.button[0].click()  # the form's submit button
    at.run()
    return at


def test_overview_shows_every_claim_with_its_verdict(app: AppTest, data_dir: Path) -> None:
    assert app.title[0].value == "Claims overview"
    store = Store.open(data_dir / "store")
    verdicts = views.current_verdicts(store.snapshot(), registry=views.load_registry(data_dir))
    table = overview_view.overview_table(store.snapshot(), verdicts)
    screen = overview_view.first_screen(table)
    rows = _first_screen(app)
    assert list(rows) == list(screen["claim_id"])  # attention first, then weakest to strongest
    assert len(rows) == len(store.read("claims")) == 17
    for claim_id, html in rows.items():
        assert f'href="./claim?claim={claim_id}"' in html
        assert f">{verdicts[claim_id].grade}</span>" in html.replace("&#32;", " ")
    assert list(rows).index("C12") < list(rows).index("C03")  # weaker first
    assert f">{_stored_grade(data_dir, 'C07')}</span>" in rows["C07"]
    detail = app.dataframe[0].value
    assert list(detail["claim_link"]) == [f"./claim?claim={c}" for c in table["claim_id"]]
    assert not detail.isna().any().any()  # empty cells are empty, never "None"
    grade = verdicts["C07"].grade
    app.multiselect[0].select(grade).run()  # filter by verdict
    filtered = app.dataframe[0].value
    assert set(filtered["verdict"]) == {grade} and "./claim?claim=C07" in set(
        filtered["claim_link"]
    )


def test_overview_puts_a_claim_needing_attention_first(app: AppTest, data_dir: Path) -> None:
    assert list(_first_screen(app))[0] != "C04"  # a Well supported claim: last until now
    _suggest_contradiction(data_dir, "C04")
    app.run()
    rows = _first_screen(app)
    assert list(rows)[0] == "C04"
    assert "Needs attention" in rows["C04"] and "a suggested study contradicts it" in rows["C04"]
    assert any(
        m.value.startswith("<div><p") and "1 needs attention" in m.value for m in app.markdown
    )


def test_unknown_claim_in_a_link_is_an_error_not_another_claim(data_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["claim"] = "C99"
    at.switch_page("app_pages/claim.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["No claim C99: the store has no claim with that id."]
    assert not at.selectbox and not at.dataframe  # nothing of C01 (or any claim) is shown
    at.query_params["claim"] = "C03"
    at.run()
    assert not at.error and next(s for s in at.selectbox if s.label == "Claim").value == "C03"


def test_content_view_highlights_claims_in_their_verdict_colour(
    app: AppTest, data_dir: Path
) -> None:
    at = _goto(app, "content")
    html = _html(at)
    grade = _stored_grade(data_dir, "C07")
    assert 'href="./claim?claim=C07"' in html
    assert f"background:{views.GRADE_TINTS[grade]}" in html
    for g in views.GRADE_COLOURS:  # the legend
        assert f">{g}</span>" in html.replace("&#32;", " ")
    at.selectbox[1].select("C07").run()
    at.button[0].click().run()  # "Open claim"
    assert at.title[0].value == "Claim"
    assert at.session_state["claim_id"] == "C07"


def test_claim_page_shows_verdict_evidence_and_inert_payloads(app: AppTest, data_dir: Path) -> None:
    at = _goto(app, "claim", claim_id="C07")
    grade = _stored_grade(data_dir, "C07")
    assert any(m.value.startswith(f"**Verdict: {grade}**") for m in at.markdown)
    evidence = at.dataframe[0].value
    assert list(evidence.columns[:2]) == ["pubmed_url", "doi_url"]  # links on screen, first
    assert not evidence.isna().any().any()
    pmids = evidence["pubmed_url"].str.extract(r"/(\d+)/$")[0]
    links = Store.open(data_dir / "store").read("links").query("claim_id == 'C07'")
    assert sorted(pmids) == sorted(links["pmid"]) and len(evidence) == len(links)
    assert XSS_PMID in set(pmids)
    assert any(c.value == f"{len(links)} studies linked" for c in at.caption)
    assert next(b for b in at.get("download_button")).label.startswith("Download the evidence")
    html = _html(at)
    assert "<script" not in html and "<img" not in html
    assert "&#60;script&#62;window.&#95;&#95;xss&#61;1&#60;/script&#62;" in html  # shown as text
    assert "&#60;img src&#61;x onerror&#61;" in html  # the curator's note, also as text
    assert any("Sign in as an editor" in i.value for i in at.info)
    assert not any(f.value == "Set stance" for f in at.button)


def test_viewer_cannot_write_and_editor_actions_are_audited(app: AppTest, data_dir: Path) -> None:
    store = Store.open(data_dir / "store")
    at = _sign_in(app, EDITOR, "wrong password!")
    assert any("wrong user name or password" in e.value for e in at.error)
    at = _sign_in(at, EDITOR, EDITOR_PASSWORD)
    assert not at.error
    at = _goto(at, "claim", claim_id="C07")
    old_grade = _stored_grade(data_dir, "C07")
    supports = list(store.read("links").query("claim_id == 'C07' and stance == 'supports'")["pmid"])
    for pmid in supports:
        study = next(s for s in at.selectbox if s.label == "Study")
        study.select(pmid)
        next(r for r in at.radio if r.label == "Stance").set_value("contradicts")
        next(b for b in at.button if b.label == "Set stance").click()
        at.run()
        assert not at.exception
    audit = store.read("audit")
    assert list(audit["actor"]) == [EDITOR] * len(supports)
    assert set(audit["pmid"]) == set(supports) and set(audit["action"]) == {views.SET_STANCE}
    new_grade = views.current_verdicts(store.snapshot())["C07"].grade
    assert new_grade != old_grade
    assert any(f"Verdict now: {new_grade}" in s.value for s in at.success)
    assert any(m.value.startswith(f"**Verdict: {new_grade}**") for m in at.markdown)


def test_literature_browser_filters_the_store(app: AppTest, data_dir: Path) -> None:
    at = _goto(app, "literature")
    records = Store.open(data_dir / "store").read("records")
    assert len(at.dataframe[0].value) == len(records)
    at.sidebar.text_input(key="lit_text").input("SYNTHETIC").run()
    shown = at.dataframe[0].value
    assert list(shown["pubmed_url"]) == [f"https://pubmed.ncbi.nlm.nih.gov/{XSS_PMID}/"]
    assert at.metric[0].value == f"1 of {len(records):,}"
    assert not at.dataframe[0].value.isna().any().any()


def test_citations_for_a_claim(app: AppTest, data_dir: Path) -> None:
    at = _goto(app, "citations", claim_id="C07")
    store = Store.open(data_dir / "store")
    links = store.read("links").query("claim_id == 'C07'")
    counted = links[links["stance"].isin(["supports", "contradicts", "mixed"])]["pmid"]
    detail_order = views.claim_detail(
        store.snapshot(), "C07", views.current_verdicts(store.snapshot())["C07"]
    ).evidence
    pmids = [p for p in detail_order["pmid"] if p in set(counted)]
    expected = citations.format_references(citations.select_records(store.read("records"), pmids))
    block = at.code[0].value
    assert block.splitlines()[0] == f"1. {expected[0]}"
    assert len(block.splitlines()) == len(pmids)
    assert len(at.get("download_button")) == 4
    at.radio[1].set_value("Vancouver (NLM)").run()
    assert "PubMed PMID:" in at.code[0].value


def test_refresh_history_lists_runs_and_changes(app: AppTest) -> None:
    at = _goto(app, "history")
    runs = at.dataframe[0].value
    assert list(runs["Run"]) == ["default"]
    changed = next(m for m in at.metric if m.label == "Verdicts changed")
    assert int(changed.value) == 17
    claims = at.dataframe[1].value["Claim"]  # links to each claim's page
    assert len(claims) == 17 and "./claim?claim=C03" in set(claims)


def test_empty_state_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(tmp_path / "nothing"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("No evidence store yet" in w.value for w in at.warning)
    assert any("evidence build-default" in m.value for m in at.markdown)


def test_a_commit_by_another_process_shows_without_restart(app: AppTest, data_dir: Path) -> None:
    store = Store.open(data_dir / "store")
    supports = list(store.read("links").query("claim_id == 'C07' and stance == 'supports'")["pmid"])
    for pmid in supports:  # e.g. a refresh or another editor, outside this session
        store.curate("other-editor", "C07", pmid, stance="contradicts")
    expected = views.current_verdicts(store.snapshot())["C07"].grade
    assert expected != _stored_grade(data_dir, "C07")
    app.run()
    assert f">{expected}</span>" in _first_screen(app)["C07"]


def test_editor_accepts_a_suggested_stance_in_one_click(app: AppTest, data_dir: Path) -> None:
    import pandas as pd

    from evidence.merges import upsert_links
    from evidence.schema import LINKS
    from tests import store_synthetic as syn

    store = Store.open(data_dir / "store")
    suggested = syn.links(
        [
            syn.link(
                "C01",
                1,
                stance="supports",
                stance_origin="suggested",
                stance_confidence=0.8,
                stance_evidence="SYNTHETIC driving sentence.",
                first_linked_run="default",
                updated_at=pd.Timestamp("2026-11-26", tz="UTC"),
            )
        ]
    )
    store.update(
        lambda s: {"links": LINKS.conform(upsert_links(s["links"], suggested))}, actor="tests"
    )
    at = _sign_in(app, EDITOR, EDITOR_PASSWORD)
    at = _goto(at, "claim", claim_id="C01")
    assert any("Machine-suggested stance: supports" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Accept 'supports'").click()
    at.run()
    audit = store.read("audit")
    assert list(audit["action"]) == [views.ACCEPT_SUGGESTION] and audit["actor"].iloc[0] == EDITOR
    link = store.read("links").query("claim_id == 'C01' and pmid == @XSS_PMID").iloc[0]
    assert (link["stance"], link["stance_origin"]) == ("supports", "curator")


def test_claim_page_reads_the_why_first_and_shows_each_part(app: AppTest) -> None:
    at = _goto(app, "claim", claim_id="C14")
    assert any(m.value.startswith("**Verdict: Limited** · direction mixed") for m in at.markdown)
    assert any(
        m.value.startswith("No study confirms the 20–40 minute session length") for m in at.markdown
    )
    assert any(s.value == "Parts of this claim" for s in at.subheader)
    html = _html(at)
    assert "C14a" in html and "C14b" in html
    assert {m.label for m in at.metric} >= {"Direction", "Certainty", "Score"}
    next(s for s in at.selectbox if s.label == "Claim").select("C12").run()
    assert any(
        m.value.startswith("No study has tested TMS for antidepressant") for m in at.markdown
    )


def test_a_suggested_contradiction_shows_needs_review(app: AppTest, data_dir: Path) -> None:
    _suggest_contradiction(data_dir, "C07")
    app.run()
    assert "a suggested study contradicts it" in _first_screen(app)["C07"]
    at = _goto(app, "claim", claim_id="C07")
    assert any(w.value.startswith("Needs review") for w in at.warning)
    assert any(
        m.value.startswith(f"**Verdict: {_stored_grade(data_dir, 'C07')}**") for m in at.markdown
    )


def test_editor_marks_a_study_indirect_and_it_is_audited(app: AppTest, data_dir: Path) -> None:
    import json

    store = Store.open(data_dir / "store")
    at = _sign_in(app, EDITOR, EDITOR_PASSWORD)
    at = _goto(at, "claim", claim_id="C07")
    at.selectbox(key="directness_pmid").select("36692954")
    at.radio(key="directness_choice").set_value("indirect")
    at.text_input(key="directness_because").input("SYNTHETIC reason: deep TMS, not figure-8")
    next(b for b in at.button if b.label == "Save directness").click()
    at.run()
    assert not at.exception and not at.error
    audit = store.read("audit")
    assert list(audit["action"]) == [views.SET_DIRECTNESS] and audit["actor"].iloc[0] == EDITOR
    assert json.loads(audit["before"].iloc[0])["direct"] is True
    assert json.loads(audit["after"].iloc[0]) == {
        "direct": False,
        "indirect_because": "SYNTHETIC reason: deep TMS, not figure-8",
    }
    link = store.read("links").query("claim_id == 'C07' and pmid == '36692954'").iloc[0]
    assert not link["direct"]
    assert any("Verdict now:" in s.value for s in at.success)


def _suggest_contradiction(data_dir: Path, claim_id: str) -> None:
    """A machine-suggested contradiction on ``claim_id`` from a real corpus RCT not linked to it,
    committed as a refresh would."""
    import pandas as pd

    from evidence.merges import upsert_links
    from evidence.schema import LINKS
    from tests import store_synthetic as syn

    suggested = syn.links(
        [
            syn.link(
                claim_id,
                0,
                pmid="29955803",
                stance="contradicts",
                stance_origin="suggested",
                stance_confidence=0.8,
                first_linked_run="default",
                updated_at=pd.Timestamp("2026-11-26", tz="UTC"),
            )
        ]
    )
    Store.open(data_dir / "store").update(
        lambda s: {"links": LINKS.conform(upsert_links(s["links"], suggested))}, actor="tests"
    )

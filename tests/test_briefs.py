"""What editors publish: evidence briefs, the post with references, and `evidence cite`.

The CLI runs on the real default store (the bundled curated corpus, built in a temp copy); hostile
text is SYNTHETIC and put into a copy of the tables, never into the store.
"""

from __future__ import annotations

import re
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest
import rispy
from streamlit.testing.v1 import AppTest

from evidence import brief, citations, cited_post, views
from evidence.cli import main
from evidence.content import find_quote, read_post
from evidence.pipeline import build_default_store
from tests.conftest import copy_default_data
from tests.dashboard_store import make_data_dir

POST = "tms-emotional-blunting.md"
HOSTILE = 'SYNTHETIC <script>alert("x")</script> <img src=x onerror=alert(1)> & *em*'
APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = copy_default_data(tmp_path_factory.mktemp("briefs") / "data")
    build_default_store(data)
    return data


@pytest.fixture(scope="module")
def state(data_dir: Path):
    store = views.open_or_build(data_dir)
    snap = store.snapshot()
    return snap, views.current_verdicts(snap, registry=views.load_registry(data_dir))


def _run(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _ama(snap, pmid: str, markup: str = "markdown") -> str:
    (text,) = citations.format_references(citations.stored_records(snap, [pmid]), "AMA", markup)
    return text


# --- evidence brief ----------------------------------------------------------------------------


def test_brief_c03_has_verdict_why_and_every_deciding_study_cited_in_full(
    capsys, data_dir: Path, state
) -> None:
    snap, verdicts = state
    code, out, err = _run(capsys, data_dir, "brief", "C03")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:11] == [
        "# Evidence brief C03: SSRIs and similar antidepressants can cause emotional blunting.",
        "",
        f"In the post ({POST}):",
        "",
        "> Selective serotonin reuptake inhibitors and similar medications change the way "
        "neurotransmitters work in the brain. These changes can reduce the intensity of both "
        "negative and positive emotions.",
        "",
        "- **Verdict:** Contested",
        "- **Direction of the evidence:** mixed",
        "- **Certainty of the evidence:** moderate (the studies point different ways)",
        "- **Studies:** 12 supporting, 2 contradicting, 6 mixed and 0 background studies "
        "confirmed by a curator.",
        "",
    ]
    v = verdicts["C03"]
    for line in v.plain:
        assert line in lines
    deciding = [d.pmid for d in v.deciding]
    assert len(deciding) == 6
    for n, pmid in enumerate(deciding, 1):
        assert f"{n}. {_ama(snap, pmid)}" in lines
        assert f"{n}. {_ama(snap, pmid, 'text')}" in [x.replace("*", "") for x in lines]
    assert (
        "2. Corruble E, de Bodinat C, Belaïdi C, Goodwin GM. Efficacy of agomelatine and "
        "escitalopram on depression, subjective sleep and emotional experiences in patients with "
        "major depressive disorder: a 24-wk randomized, controlled, double-blind trial. "
        "*Int J Neuropsychopharmacol*. 2013;16(10):2219-2234. doi:10.1017/S1461145713000679"
    ) in lines
    assert (
        "   - Randomized controlled trial, 324 participants, 2013; direct; supports the claim."
        in (lines)
    )
    assert lines[-1] == (
        f"Evidence as of store run default, 2026-11-26. References in AMA style. {brief.DISCLAIMER}"
    )


def test_brief_of_a_split_claim_shows_its_parts_and_which_studies_decide_each(state) -> None:
    snap, verdicts = state
    text = brief.to_markdown(brief.build_brief(snap, verdicts, "C14", "vancouver"))
    assert "### C14b: Each TMS session lasts about 20 to 40 minutes." in text
    assert "Limited; direction mixed; moderate certainty.\n\nNo study confirms the 20–40" in text
    assert "Deciding studies: 3, 4." in text and "Deciding studies: 1, 2." in text
    assert (
        "2. Wada M, et al. Effectiveness of sequential bilateral repetitive transcranial "
        "stimulation versus bilateral theta burst stimulation for patients with "
        "treatment-resistant depression (BEAT-D): A randomized non-inferiority clinical trial. "
        "Brain Stimul. 2025 Jan-Feb;18(1):25-33. doi: 10.1016/j.brs.2024.12.1474. "
        "PubMed PMID: 39725000.\n"
        "   - Randomized controlled trial, 149 participants, 2025; direct; mixed results. "
        "Decides part C14b."
    ) in text


def test_brief_html_is_a_print_ready_page_in_the_chosen_style(capsys, data_dir, state) -> None:
    snap, verdicts = state
    code, out, _ = _run(
        capsys, data_dir, "brief", "c13", "--format", "html", "--style", "vancouver"
    )
    assert code == 0
    assert out.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "@media print" in out and "@page" in out and "<script" not in out
    assert "<dt>Verdict</dt><dd>Contradicted</dd>" in out
    for d in verdicts["C13"].deciding:
        (nlm,) = citations.format_references(
            citations.stored_records(snap, [d.pmid]), "vancouver", "html"
        )
        assert nlm in out
    assert '<li id="study-3">Sackeim HA, Haskett RF, Mulsant BH, Thase ME, Mann JJ' in out


def test_brief_of_an_unknown_claim_exits_1_naming_it(capsys, data_dir: Path) -> None:
    code, out, err = _run(capsys, data_dir, "brief", "C99")
    assert (code, out) == (1, "")
    assert err.startswith("evidence: unknown claim 'C99' (known: C01, C02, C03,")


# --- post with references ----------------------------------------------------------------------


def _review_ids(text: str) -> list[str]:
    section = text.split("## Before publishing: claims to reword or review", 1)[1]
    return re.findall(r"^- \*\*(C\d+)\*\*", section, re.MULTILINE)


def test_cite_post_numbers_citations_and_lists_claims_to_review(capsys, data_dir, state) -> None:
    snap, verdicts = state
    code, out, err = _run(capsys, data_dir, "cite-post", POST)
    assert (code, err) == (0, "")
    assert out.startswith("\n# Can TMS Help With Emotional Blunting Caused by Antidepressants?")
    assert "as negative emotions like sadness or frustration.<sup>1-5</sup> For someone" in out
    refs = re.findall(r"^(\d+)\. (.*)$", out.split("## References", 1)[1], re.MULTILINE)
    refs = [(int(n), text) for n, text in refs if not text.startswith("**")]
    numbers = [n for n, _ in refs]
    assert numbers == list(range(1, len(refs) + 1)) and len(refs) == 25
    assert refs[0][1] == (
        "Bylsma LM, Morris BH, Rottenberg J. A meta-analysis of emotional reactivity in major "
        "depressive disorder. *Clin Psychol Rev*. 2008;28(4):676-691. "
        "doi:10.1016/j.cpr.2007.10.001"
    )
    cited = {int(n) for m in re.findall(r"<sup>([\d,-]+)</sup>", out) for n in _expand(m)}
    assert cited == set(numbers)
    post = read_post(data_dir / "content" / POST)
    claims = snap["claims"].set_index("claim_id")
    for cid, v in verdicts.items():
        if v.grade in cited_post.CITABLE:
            start, end = find_quote(post.text, claims.at[cid, "quote"])
            assert post.text[start:end] + "<sup>" in out, cid
    expected = [
        cid
        for cid, v in verdicts.items()
        if v.grade not in cited_post.CITABLE or v.needs_review or v.cites_retracted
    ]
    assert sorted(_review_ids(out)) == sorted(expected)
    assert expected == ["C01", "C03", "C05", "C10", "C12", "C13", "C14", "C15", "C16"]
    assert (
        "- **C13** (Contradicted; direction contradicts; low certainty): the evidence points "
        "against it: remove it or rewrite it.\n"
        "  - Sentence: “Under a doctor's supervision it is possible, in some cases, to wean off "
        "medications after successful TMS therapy.”\n"
        "  - Why: No study has tested stopping antidepressants after a successful course of TMS."
    ) in out


def _expand(marker: str) -> list[int]:
    out: list[int] = []
    for part in marker.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def test_cite_post_vancouver_brackets_before_the_period_and_html_links(
    capsys, data_dir: Path
) -> None:
    code, out, _ = _run(capsys, data_dir, "cite-post", POST, "--style", "vancouver")
    assert code == 0 and "sadness or frustration [1-5]. For someone" in out
    assert (
        "1. Bylsma LM, Morris BH, Rottenberg J. A meta-analysis of emotional reactivity in " in out
    )
    code, html, _ = _run(capsys, data_dir, "cite-post", POST, "--format", "html")
    assert code == 0 and html.startswith("<!DOCTYPE html>")
    assert (
        'frustration.<sup class="cite"><a href="#ref-1">1</a>-<a href="#ref-5">5</a></sup>'
    ) in html
    assert '<li id="ref-1">Bylsma LM, Morris BH, Rottenberg J.' in html
    assert "<i>Clin Psychol Rev</i>" in html


def test_cite_post_by_path_matches_quotes_and_escapes_the_draft(capsys, data_dir, tmp_path) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text(
        "# SYNTHETIC draft\n\n<script>alert('draft')</script>\n\n"
        "TMS is approved by the Food and Drug Administration for the treatment of major "
        "depressive disorder.\n\nOne of the most common experiences is emotional flatness.\n",
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, data_dir, "cite-post", str(draft), "--format", "html")
    assert code == 0
    assert "<script" not in out and "&lt;script&gt;alert('draft')&lt;/script&gt;" in out
    assert 'major depressive disorder.<sup class="cite">' in out
    assert "<strong>C01</strong> (Contested; direction mixed; moderate certainty)" in out
    assert "C03" not in out  # a claim whose sentence is not in the draft is not listed


def test_cite_post_of_an_unknown_post_exits_1(capsys, data_dir: Path) -> None:
    code, _, err = _run(capsys, data_dir, "cite-post", "no-such-post.md")
    assert code == 1 and "evidence: no post 'no-such-post.md'" in err and POST in err


# --- hostile record text -----------------------------------------------------------------------


def _hostile_tables(snap, pmid: str) -> dict[str, pd.DataFrame]:
    tables = {name: snap[name] for name in ("claims", "records", "runs")}
    records = tables["records"].copy()
    hit = records["pmid"].eq(pmid)
    records.loc[hit, "title"] = HOSTILE
    records.loc[hit, "journal_iso"] = "SYNTHETIC <b>J</b>"
    records.loc[hit, "authors"] = pd.Series([["SYNTHETIC <i>Group</i>"]], index=records.index[hit])
    tables["records"] = records
    return tables


def test_html_outputs_escape_a_hostile_synthetic_title(state, data_dir: Path) -> None:
    snap, verdicts = state
    pmid = cited_post.supporting_pmids(verdicts["C07"])[0]
    tables = _hostile_tables(snap, pmid)
    escaped = (
        "SYNTHETIC &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
        "&lt;img src=x onerror=alert(1)&gt; &amp; *em*"
    )
    outputs = [
        brief.to_html(brief.build_brief(tables, verdicts, "C07")),
        cited_post.to_html(
            cited_post.cite_post(tables, verdicts, read_post(data_dir / "content" / POST))
        ),
    ]
    for html in outputs:
        assert escaped in html
        assert "SYNTHETIC &lt;i&gt;Group&lt;/i&gt;" in html and "<i>SYNTHETIC &lt;b&gt;J" in html
        assert "<script" not in html and "<img" not in html and "<b>" not in html
    md = brief.to_markdown(brief.build_brief(tables, verdicts, "C07"))
    assert 'SYNTHETIC \\<script\\>alert("x")\\</script\\> \\<img src=x' in md


# --- evidence cite -----------------------------------------------------------------------------


def test_cite_prints_references_and_exports_from_the_store(capsys, data_dir: Path) -> None:
    code, out, err = _run(capsys, data_dir, "cite", "11255384", "34453491", "--style", "vancouver")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Sackeim HA, Haskett RF, Mulsant BH, Thase ME, Mann JJ, Pettinati HM, et al. "
        "Continuation pharmacotherapy in the prevention of relapse following electroconvulsive "
        "therapy: a randomized controlled trial. JAMA. 2001 Mar;285(10):1299-307. "
        "doi: 10.1001/jama.285.10.1299. PubMed PMID: 11255384.",
        "Fukuda AM, Kang JWD, Gobin AP, Tirrell E, Kokdere F, Carpenter LL. Effects of "
        "transcranial magnetic stimulation on anhedonia in treatment resistant major "
        "depressive disorder. Brain Behav. 2021 Sep;11(9):e2329. doi: 10.1002/brb3.2329. "
        "PubMed PMID: 34453491; PubMed Central PMCID: PMC8442591.",
    ]
    code, out, _ = _run(capsys, data_dir, "cite", "11255384")
    assert out == (
        "Sackeim HA, Haskett RF, Mulsant BH, et al. Continuation pharmacotherapy in the "
        "prevention of relapse following electroconvulsive therapy: a randomized controlled "
        "trial. JAMA. 2001;285(10):1299-1307. doi:10.1001/jama.285.10.1299\n"
    )
    code, out, _ = _run(capsys, data_dir, "cite", "11255384", "--style", "bibtex")
    (entry,) = bibtexparser.parse_string(out).entries
    assert (entry["shortjournal"], entry["volume"], entry["number"], entry["pages"]) == (
        "JAMA",
        "285",
        "10",
        "1299--1307",
    )
    code, out, _ = _run(capsys, data_dir, "cite", "34453491", "--style", "ris")
    (ris,) = rispy.loads(out)
    assert (ris["accession_number"], ris["custom2"], ris["start_page"]) == (
        "34453491",
        "PMC8442591",
        "e2329",
    )
    code, out, _ = _run(capsys, data_dir, "cite", "34453491", "--style", "csl-json")
    assert '"PMCID": "PMC8442591"' in out
    code, out, _ = _run(capsys, data_dir, "cite", "34453491", "--style", "csv")
    assert out.startswith(",".join(citations.CSV_COLUMNS) + "\n34453491,PMC8442591,")


def test_cite_an_unknown_pmid_exits_1_naming_it(capsys, data_dir: Path) -> None:
    code, out, err = _run(capsys, data_dir, "cite", "11255384", "99999999", "1")
    assert (code, out) == (1, "")
    assert err == "evidence: not in the store: PMID 99999999, 1\n"


def test_number_ranges() -> None:
    assert cited_post.number_ranges((8, 1, 2, 3, 5, 7)) == [(1, 3), (5, 5), (7, 7), (8, 8)]


# --- dashboard ---------------------------------------------------------------------------------


def test_dashboard_downloads_a_brief_and_a_post_with_references(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(make_data_dir(tmp_path)))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/citations.py")
    at.run()
    at.selectbox(key="cite_output").select("Evidence brief (a claim)").run()
    at.selectbox(key="brief_claim").select("C03").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("download_button")) == 2
    assert at.code[0].value.startswith("# Evidence brief C03: SSRIs and similar")
    at.selectbox(key="cite_output").select("Post with references").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("download_button")) == 2
    review = at.dataframe[0].value
    claims = list(review["claim"].str.extract(r"^\./claim\?claim=(\w+)$")[0])  # links
    assert claims == ["C01", "C03", "C05", "C10", "C12", "C13", "C14", "C15", "C16"]

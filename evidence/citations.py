"""References an editor can paste: AMA and Vancouver (NLM) text, and RIS/BibTeX/CSL-JSON/CSV files.

Both styles are written here from a record's structured fields (`evidence.reference`), following
the AMA Manual of Style (11th ed.) and NLM's Citing Medicine as ICMJE's samples show it:

- AMA: ``Doe JA, Roe B, Poe C, et al. Title. Synth J Tests. 2020;12(3):101-109.
  doi:10.0000/x`` -- six authors or fewer all shown, else the first three and "et al."; the
  journal's NLM abbreviation in italics; full page ranges; "Published online <date>." instead of
  year;volume(issue):pages only for an ahead-of-print record.
- Vancouver: ``Doe JA, ..., Loe F, et al. Title. Synth J Tests. 2020 Mar;12(3):101-9.
  doi: 10.0000/x. PubMed PMID: 123; PubMed Central PMCID: PMC456.`` -- six authors, then
  "et al."; the issue date as PubMed prints it; MEDLINE's short page ranges; "Epub <date>." when
  an electronic date is stored; "[Epub ahead of print]" for an ahead-of-print record.

A collective author follows personal authors after a semicolon, a record with no authors starts
with its title, and a missing field drops out with its punctuation. citeproc-py's CSL styles were
used before; they cannot tell an ahead-of-print record from an incomplete one (every record
without a volume became "Published online <year>"), cannot mark a truncated author list, and join
NLM dates without spaces, so the two styles are written directly. The CSL-JSON export is still
checked against citeproc-py in the tests.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import pandas as pd

from .reference import Reference, ama_date, is_collective, nlm_date, page_range, references
from .reference import split_author as split_author

STYLES = {"AMA": "ama", "Vancouver (NLM)": "vancouver"}
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
Markup = Literal["text", "markdown", "html"]
Piece = tuple[str, bool]  # (text, italic)
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas
# Markdown's inline specials; "\" first so escapes are not escaped again.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~#])")


def style_id(style: str) -> str:
    """The style id ("ama", "vancouver") of a display name ("Vancouver (NLM)") or an id."""
    wanted = style.strip().lower()
    for name, sid in STYLES.items():
        if wanted in (name.lower(), sid, "nlm" if sid == "vancouver" else sid):
            return sid
    raise ValueError(f"unknown citation style {style!r}; choose one of {', '.join(STYLES)}")


def expand_pages(pages: str) -> str:
    """The full page range AMA wants ("1299-307" -> "1299-1307")."""
    return page_range(pages, "full")


# --- the styles --------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    """``text`` closed by a period, unless it already ends a sentence ("Does it work?")."""
    text = text.strip()
    return text if not text or text.endswith((".", "?", "!")) else text + "."


def _names(ref: Reference, show_all_up_to: int, shown: int) -> str:
    """The author list: all up to ``show_all_up_to``, else the first ``shown`` and "et al."."""
    names = list(ref.authors)
    et_al = ref.authors_truncated
    if len(names) > show_all_up_to:
        names, et_al = names[:shown], True
    out = ""
    for i, name in enumerate(names):
        if i:
            # A group follows or precedes personal names after a semicolon (ICMJE, AMA).
            joint = is_collective(name) or is_collective(names[i - 1])
            out += "; " if joint else ", "
        out += name
    if et_al and out:
        out += ", et al."
    return _sentence(out)


def _ama(ref: Reference) -> list[Piece]:
    pieces: list[Piece] = []
    if ref.authors:
        pieces.append((_names(ref, show_all_up_to=6, shown=3) + " ", False))
    if ref.kind == "book":
        if ref.title:
            pieces += [(_sentence(ref.title), True), (" ", False)]
        place = "; ".join(p for p in (ref.journal, str(ref.year or "")) if p)
        if place:
            pieces.append((_sentence(place) + " ", False))
    else:
        if ref.title:
            pieces.append((_sentence(ref.title) + " ", False))
        if ref.journal_short:
            pieces += [(ref.journal_short, True), (". ", False)]
        if ref.ahead_of_print:
            pieces.append((f"Published online {ama_date(ref.online_date)}. ", False))
        else:
            where = _locator(str(ref.year or ""), ref, page_range(ref.pages, "full"))
            if where:
                pieces.append((where + ". ", False))
    if ref.doi:
        pieces.append((f"doi:{ref.doi}", False))
    return _retraction(_trim(pieces), ref)


def _vancouver(ref: Reference) -> list[Piece]:
    pieces: list[Piece] = []
    if ref.authors:
        pieces.append((_names(ref, show_all_up_to=6, shown=6) + " ", False))
    if ref.title:
        pieces.append((_sentence(ref.title) + " ", False))
    if ref.kind == "book":
        place = "; ".join(p for p in (ref.journal, str(ref.year or "")) if p)
        if place:
            pieces.append((_sentence(place) + " ", False))
    else:
        if ref.journal_short:
            pieces.append((_sentence(ref.journal_short) + " ", False))
        if ref.ahead_of_print:
            when = nlm_date(ref.online_date)
            pieces.append((f"{when} [Epub ahead of print]. ".lstrip(), False))
        else:
            where = _locator(ref.date_nlm, ref, page_range(ref.pages, "short"))
            if where:
                pieces.append((where + ". ", False))
    if ref.doi:
        pieces.append((f"doi: {ref.doi}. ", False))
    if ref.epub_date and not ref.ahead_of_print and nlm_date(ref.epub_date):
        pieces.append((f"Epub {nlm_date(ref.epub_date)}. ", False))
    ids = f"PubMed PMID: {ref.pmid}" if ref.pmid else ""
    if ref.pmcid:
        ids = "; ".join(p for p in (ids, f"PubMed Central PMCID: {ref.pmcid}") if p)
    if ids:
        pieces.append((ids + ".", False))
    return _retraction(_trim(pieces), ref)


def _locator(date: str, ref: Reference, pages: str) -> str:
    """``date;volume(issue):pages``, each part and its punctuation only when stored."""
    volume = ref.volume + (f"({ref.issue})" if ref.issue else "")
    where = ";".join(p for p in (date, volume) if p)
    return ":".join(p for p in (where, pages) if p)


def _trim(pieces: list[Piece]) -> list[Piece]:
    if pieces:
        text, italic = pieces[-1]
        pieces[-1] = (text.rstrip(), italic)
    return pieces


def _retraction(pieces: list[Piece], ref: Reference) -> list[Piece]:
    """PubMed's warning after a retracted paper, so it is never pasted unwarned."""
    if ref.retraction_notices:
        note = f"Retraction in: PMID {', '.join(ref.retraction_notices)}."
    elif ref.retracted:
        note = "Retracted publication."
    else:
        return pieces
    return [*pieces, (" " + note, False)]


_STYLE_FN: dict[str, Callable[[Reference], list[Piece]]] = {
    "ama": _ama,
    "vancouver": _vancouver,
}


def markdown_escape(text: str) -> str:
    """Text that a Markdown renderer shows as itself (no emphasis, link, HTML or table)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def render(pieces: Iterable[Piece], markup: Markup = "text") -> str:
    """Join pieces as plain text, Markdown (``*italic*``) or HTML (``<i>``), escaping each."""
    out = []
    for text, italic in pieces:
        if markup == "html":
            text = html.escape(text, quote=True)
            out.append(f"<i>{text}</i>" if italic and text else text)
        elif markup == "markdown":
            text = markdown_escape(text)
            out.append(f"*{text}*" if italic and text else text)
        else:
            out.append(text)
    return "".join(out)


def cite(ref: Reference, style: str = "AMA", markup: Markup = "text") -> str:
    """One reference in a style, without a list number."""
    return render(_STYLE_FN[style_id(style)](ref), markup)


def format_references(
    records: pd.DataFrame, style: str = "AMA", markup: Markup = "text"
) -> list[str]:
    """One reference per record, in the order given, without list numbers.

    A retracted record is followed by "Retraction in: PMID ..." (or "Retracted publication."),
    as PubMed's citations do.
    """
    fn = _STYLE_FN[style_id(style)]
    return [render(fn(ref), markup) for ref in references(records)]


# --- CSL-JSON ----------------------------------------------------------------------------------


def csl_item(row: dict[str, Any]) -> dict[str, Any]:
    """One record as a CSL-JSON item (id = PMID), with the same fields as the styles."""
    ref = Reference.from_row(row)
    item: dict[str, Any] = {
        "id": ref.pmid,
        "type": "chapter" if ref.kind == "book" else "article-journal",
        "title": ref.title,
        "container-title": ref.journal or ref.journal_abbrev,
        "author": [split_author(a) for a in ref.authors],
        "PMID": ref.pmid,
        "URL": PUBMED_URL.format(ref.pmid),
    }
    if ref.journal_abbrev:
        item["container-title-short"] = ref.journal_abbrev
    parts = _date_parts(ref.pub_date) or ([ref.year] if ref.year else None)
    if parts:
        item["issued"] = {"date-parts": [parts]}
    epub = _date_parts(ref.epub_date)
    if epub:
        item["available-date"] = {"date-parts": [epub]}
    for key, value in (
        ("volume", ref.volume),
        ("issue", ref.issue),
        ("page", page_range(ref.pages, "full")),
        ("DOI", ref.doi),
        ("PMCID", ref.pmcid),
    ):
        if value:
            item[key] = value
    if ref.ahead_of_print:
        item["status"] = "Epub ahead of print"
    abstract = " ".join(str(row.get("abstract") or "").split())
    if abstract:
        item["abstract"] = abstract
    return item


def _date_parts(iso: str) -> list[int] | None:
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", iso or "")
    return [int(p) for p in m.groups() if p] if m else None


def csl_items(records: pd.DataFrame) -> list[dict[str, Any]]:
    return [csl_item(r) for r in records.to_dict("records")]


# --- files -------------------------------------------------------------------------------------


def to_csl_json(records: pd.DataFrame) -> str:
    return json.dumps(csl_items(records), ensure_ascii=False, indent=2) + "\n"


def to_ris(records: pd.DataFrame) -> str:
    """RIS (as read by Zotero, EndNote, Mendeley): one ``TY - JOUR`` ... ``ER -`` block each.

    T2 is the journal, J2 its NLM abbreviation, AN the PMID and C2 the PMCID (EndNote's PubMed
    convention); SP/EP carry the full page range, or SP alone an article number.
    """
    lines: list[str] = []
    for row in records.to_dict("records"):
        ref = Reference.from_row(row)

        def tag(name: str, value: Any) -> None:
            text = " ".join(str(value or "").split())  # RIS values are single lines
            if text:
                lines.append(f"{name}  - {text}")

        tag("TY", "CHAP" if ref.kind == "book" else "JOUR")
        for a in ref.authors:
            tag("AU", _ris_name(a))
        tag("TI", ref.title)
        tag("T2", ref.journal or ref.journal_abbrev)
        tag("J2", ref.journal_abbrev)
        tag("PY", ref.year)
        tag("DA", "/".join(str(p).zfill(2) for p in _date_parts(ref.pub_date) or []))
        tag("VL", ref.volume)
        tag("IS", ref.issue)
        start, _, end = page_range(ref.pages, "full").partition("-")
        tag("SP", start)
        tag("EP", end)
        tag("DO", ref.doi)
        tag("AN", ref.pmid)
        tag("C2", ref.pmcid)
        tag("UR", PUBMED_URL.format(ref.pmid))
        tag("AB", row.get("abstract"))
        for note in _notes(ref):
            tag("N1", note)
        lines.append("ER  - ")
        lines.append("")
    return "\n".join(lines)


def _notes(ref: Reference, authors: bool = True) -> list[str]:
    """Warnings an export carries as a note; ``authors`` False when the format has "et al."."""
    notes = ["Retracted publication"] if ref.retracted else []
    if ref.ahead_of_print:
        notes.append(f"Epub ahead of print {nlm_date(ref.online_date)}".strip())
    if authors and ref.authors_truncated:
        notes.append("Author list incomplete: only the first author is recorded")
    return notes


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

    ``shortjournal`` (biblatex) holds the NLM abbreviation, ``pmid``/``pmcid`` the PubMed IDs.
    Every value, whatever its source, goes through `bibtex_escape`: a record's text must never
    end its field early or add a field (``pages = {1}, note = {...}``).
    """
    entries = []
    for row in records.to_dict("records"):
        ref = Reference.from_row(row)
        names = []
        for a in ref.authors:
            parts = split_author(a)
            if "literal" in parts:
                names.append("{" + bibtex_escape(parts["literal"]) + "}")
            else:
                given = " ".join(f"{bibtex_escape(c)}." for c in parts["given"].split())
                names.append(f"{_bibtex_family(parts['family'])}, {given}")
        if ref.authors_truncated:
            names.append("others")  # BibTeX's own "et al."
        fields = [
            ("author", " and ".join(names)),
            ("title", "{" + bibtex_escape(ref.title) + "}" if ref.title else ""),
            ("journal", bibtex_escape(ref.journal or ref.journal_abbrev)),
            ("shortjournal", bibtex_escape(ref.journal_abbrev)),
            ("year", str(ref.year or "")),
            ("volume", bibtex_escape(ref.volume)),
            ("number", bibtex_escape(ref.issue)),
            ("pages", _PAGE_RANGE.sub("--", bibtex_escape(page_range(ref.pages, "full")))),
            ("doi", bibtex_escape(ref.doi)),
            ("pmid", bibtex_escape(ref.pmid)),
            ("pmcid", bibtex_escape(ref.pmcid)),
            ("url", bibtex_escape(PUBMED_URL.format(ref.pmid))),
            ("note", bibtex_escape("; ".join(_notes(ref, authors=False)))),
        ]
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
        kind = "incollection" if ref.kind == "book" else "article"
        key = "pmid" + _BIBTEX_KEY_UNSAFE.sub("_", ref.pmid)
        entries.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


CSV_COLUMNS = [
    "pmid",
    "pmcid",
    "doi",
    "authors",
    "title",
    "journal",
    "journal_abbrev",
    "year",
    "pub_date",
    "volume",
    "issue",
    "pages",
    "epub_date",
    "ahead_of_print",
    "retracted",
    "pubmed_url",
    "ama",
    "vancouver",
]


def to_csv(records: pd.DataFrame) -> str:
    """One row per record with both formatted references; cells that a spreadsheet would run
    as a formula (leading ``=``, ``+``, ``-``, ``@``) are prefixed with a quote."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ref in references(records):
        authors = "; ".join(ref.authors) + ("; et al." if ref.authors_truncated else "")
        values = [
            ref.pmid,
            ref.pmcid,
            ref.doi,
            authors,
            ref.title,
            ref.journal,
            ref.journal_abbrev,
            str(ref.year or ""),
            ref.pub_date,
            ref.volume,
            ref.issue,
            page_range(ref.pages, "full"),
            ref.epub_date,
            "yes" if ref.ahead_of_print else "no",
            "yes" if ref.retracted else "no",
            PUBMED_URL.format(ref.pmid),
            render(_ama(ref)),
            render(_vancouver(ref)),
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
    "pub_date",
    "pub_date_text",
    "epub_date",
    "citation_status",
    "authors",
    "doi",
    "pmcid",
    "retracted",
    "retraction_notices",
    "article_kind",
    "source",
]


def select_records(records: pd.DataFrame, pmids: Iterable[str]) -> pd.DataFrame:
    """The records of ``pmids``, in that order (unknown PMIDs are skipped)."""
    wanted = [str(p) for p in pmids]
    sub = records[records["pmid"].isin(wanted)].set_index("pmid", drop=False)
    return sub.loc[[p for p in wanted if p in sub.index]].reset_index(drop=True)


def stored_records(tables: Mapping[str, pd.DataFrame], pmids: Iterable[str]) -> pd.DataFrame:
    """The records of ``pmids`` from a store snapshot (only `RECORD_COLUMNS` decoded), in order."""
    key_frame = getattr(tables, "key_frame", None)
    frame = key_frame("records", RECORD_COLUMNS) if key_frame else tables["records"]
    return select_records(frame, pmids)

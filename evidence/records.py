"""PubMed records -> rows shaped like `evidence.schema.RECORD_FIELDS`.

Two inputs: efetch XML (streamed with lxml ``iterparse``; DTD loading, network access and
entity expansion off, so an XXE or "billion laughs" payload stays inert) and PubMed's MEDLINE /
.nbib export (read with ``Bio.Medline``). ``Bio.Entrez.read`` is the reference the XML parse is
tested against; it is about 6x slower in CPU time (BENCHMARKS.md), which is why it is not used
here.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
from Bio import Medline
from lxml import etree

from .errors import ParseError
from .pmids import check_pmid, is_pmid
from .schema import RECORD_FIELDS, Table

Row = dict[str, Any]
Source = bytes | str | Path | IO[bytes]

RECORD_ROWS = Table("record_rows", RECORD_FIELDS, ("pmid",))
_HASHED = [k for k in RECORD_FIELDS.names if k not in ("source", "content_hash")]

MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_YEAR = re.compile(r"\b(1[89]\d\d|2\d\d\d)\b")
_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I)


_NEEDS_SQUASH = re.compile(r"\s\s|[^\S ]")  # a run of whitespace, or any but a plain space
MATHML = "{http://www.w3.org/1998/Math/MathML}math"


def _text(el: etree._Element | None) -> str:
    """All text inside an element, inline markup (<i>, <sup>...) flattened, spaces collapsed.

    MathML is joined without the layout whitespace between its tokens ("VO2max", not
    "V O 2 m a x").
    """
    if el is None:
        return ""
    if len(el):
        return _marked_up_text(el)
    return _squash(el.text or "")


def _marked_up_text(el: etree._Element) -> str:
    """The text of an element with inline markup, each MathML formula compacted in place.

    The same text as compacting each formula in the tree and then joining ``itertext()``
    (comment and processing-instruction text left out, entity references kept), without
    rewriting the tree: removing a formula with ``remove`` (lxml re-homes the removed subtree)
    made a formula-rich abstract cost twice as much. Only elements on the way to a formula are
    walked in Python; every other subtree's text comes from ``itertext()``.
    """
    maths = set(el.iter(MATHML))
    if not maths:
        return _squash("".join(el.itertext()))
    holders: set[etree._Element] = set()  # elements between ``el`` and a formula
    for math in maths:
        parent = math.getparent()
        while parent is not None and parent is not el and parent not in holders:
            holders.add(parent)
            parent = parent.getparent()
    pieces: list[str] = []
    _flatten(el, maths, holders, pieces)
    return _squash("".join(pieces))


def _flatten(
    el: etree._Element,
    maths: set[etree._Element],
    holders: set[etree._Element],
    pieces: list[str],
) -> None:
    if el.text:
        pieces.append(el.text)
    for child in el:
        if child in maths:
            pieces += [t.strip() for t in child.itertext()]
        elif child in holders:
            _flatten(child, maths, holders, pieces)
        elif isinstance(child.tag, str):
            if len(child):
                pieces += child.itertext()
            elif child.text:  # <sub>, <i>...: itertext() would cost ~2 µs for this one text
                pieces.append(child.text)
        elif child.tag is etree.Entity:  # as itertext(): an unexpanded entity keeps its "&name;"
            pieces.append(child.text)
        if child.tail:
            pieces.append(child.tail)


def _squash(text: str) -> str:
    """Collapse runs of whitespace; most PubMed text has none, so look before splitting.

    Every whitespace character but the plain space is unprintable, so a printable text without
    a double space has nothing to collapse; ``isprintable`` and ``in`` are cheaper than the regex.
    """
    if text.isprintable() and "  " not in text:
        return text.strip()
    if _NEEDS_SQUASH.search(text):
        return " ".join(text.split())
    return text.strip()


def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(value[:3].lower())


def _iso(year: str | int | None, month: int | None = None, day: str | int | None = None) -> str:
    if not year:
        return ""
    out = f"{int(year):04d}"
    if month:
        out += f"-{month:02d}"
        if day and str(day).isdigit() and 1 <= int(day) <= 31:
            out += f"-{int(day):02d}"
    return out


def date_from_text(text: str) -> tuple[int | None, str]:
    """Year and ISO prefix from free dates: "2020 Jul-Aug" -> (2020, "2020-07")."""
    year = _YEAR.search(text or "")
    if not year:
        return None, ""
    month = _MONTH.search(text[year.end() :])
    return int(year.group(1)), _iso(year.group(1), _month(month.group(1)) if month else None)


def _date_el(el: etree._Element | None) -> str:
    if el is None:
        return ""
    year, month, day = _first_texts(el, _DATE_PARTS)
    return _iso(year, _month(month), day)


def content_hash(row: Row) -> str:
    """Stable hash of a record's content, for change detection between fetches."""
    # Rows are built by this package's parsers from plain str/int/bool/list/dict values in a
    # fixed key order, so their repr is deterministic and ~3x cheaper to make than JSON.
    blob = repr([row.get(k) for k in _HASHED])
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=16).hexdigest()


def _finish(row: Row) -> Row:
    row["content_hash"] = content_hash(row)
    return row


def _empty_row(source: str) -> Row:
    return {
        "pmid": "",
        "title": "",
        "abstract": "",
        "abstract_sections": [],
        "journal": "",
        "journal_iso": "",
        "volume": "",
        "issue": "",
        "pages": "",
        "pub_year": None,
        "pub_date": "",
        "pub_date_text": "",
        "epub_date": "",
        "entrez_date": "",
        "authors": [],
        "doi": "",
        "pmcid": "",
        "languages": [],
        "publication_types": [],
        "mesh": [],
        "keywords": [],
        "citation_status": "",
        "retracted": False,
        "retraction_notices": [],
        "expression_of_concern": False,
        "concern_notices": [],
        "errata": [],
        "article_kind": "journal",
        "source": source,
        "content_hash": "",
    }


def _abstract(row: Row, abstract: etree._Element | None) -> None:
    if abstract is None:
        return
    sections = [
        {
            "label": t.get("Label") or "",
            "category": t.get("NlmCategory") or "",
            "text": _text(t),
        }
        for t in abstract.iterchildren("AbstractText")
    ]
    row["abstract_sections"] = sections
    row["abstract"] = "\n".join(
        f"{s['label']}: {s['text']}" if s["label"] else s["text"] for s in sections if s["text"]
    )


def _authors(author_list: etree._Element | None) -> list[str]:
    out: list[str] = []
    if author_list is None:
        return out
    for a in author_list.iterchildren("Author"):
        if a.get("ValidYN") == "N":
            continue
        last = initials = ""
        for part in a:  # one pass over the children instead of a find() per field
            tag = part.tag
            if tag == "LastName":
                last = part.text or ""
            elif tag == "Initials":
                initials = part.text or ""
            elif tag == "CollectiveName":
                last, initials = _text(part), ""
        if last:
            out.append(f"{last} {initials}".strip())
    return out


def _tag_index(*tags: str) -> dict[str, int]:
    return {tag: i for i, tag in enumerate(tags)}


def _first_texts(el: etree._Element, tags: dict[str, int]) -> list[str | None]:
    """``[el.findtext(t) for t in tags]`` in one pass over the children (findtext is ~2 µs)."""
    found: list[str | None] = [None] * len(tags)
    for part in el:
        i = tags.get(part.tag)
        if i is not None and found[i] is None:
            found[i] = part.text or ""
    return found


_PUB_DATE_PARTS = _tag_index("MedlineDate", "Year", "Month", "Day", "Season")
_DATE_PARTS = _tag_index("Year", "Month", "Day")
_PAGES_PARTS = _tag_index("MedlinePgn", "StartPage", "EndPage")


def _pub_date(row: Row, pub_date: etree._Element | None) -> None:
    if pub_date is None:
        return
    medline, year, month, day, season = _first_texts(pub_date, _PUB_DATE_PARTS)
    if medline:
        row["pub_date_text"] = medline.strip()
        row["pub_year"], row["pub_date"] = date_from_text(medline)
        return
    row["pub_date_text"] = " ".join(p for p in (year, month, day, season) if p)
    if year and year.strip().isdigit():
        row["pub_year"] = int(year)
        row["pub_date"] = _iso(year, _month(month), day)


_NOTICES = {
    "RetractionIn": "retraction_notices",
    "ExpressionOfConcernIn": "concern_notices",
    "ErratumIn": "errata",
}


def _comments_corrections(row: Row, cc_list: etree._Element, problems: list[str] | None) -> None:
    """Retraction, concern and erratum notices; their lists hold only well-formed PMIDs.

    The flags are set whatever the notice's PMID looks like: a retraction must never be lost
    because its notice is malformed. A malformed notice PMID is reported, not stored, and does
    not cost the article.
    """
    for cc in cc_list.iterchildren("CommentsCorrections"):
        kind = cc.get("RefType")
        column = _NOTICES.get(kind or "")
        if column is None:  # most entries are "Cites"; skip them cheaply
            continue
        if kind == "RetractionIn":
            row["retracted"] = True
        elif kind == "ExpressionOfConcernIn":
            row["expression_of_concern"] = True
        pmid = cc.findtext("PMID")
        if pmid is None:
            continue  # a notice PubMed cites without a PMID: the flag above is all there is
        if is_pmid(pmid):
            row[column].append(pmid)
        elif problems is not None:
            problems.append(f"{_where(cc)}: {kind} notice with malformed PMID {pmid!r} ignored")


def _where(element: etree._Element) -> str:
    """Where an element sits in its document, for messages (the line is free from lxml)."""
    line = element.sourceline
    return f"{element.tag} at line {line}" if line else element.tag


def _pmid_of(element: etree._Element, path: str) -> str:
    """The entry's own PMID, checked against the one rule; a ParseError names the entry."""
    pmid = element.findtext(path)
    if pmid and is_pmid(pmid):
        return pmid
    if not pmid:
        raise ParseError(_where(element), "no PMID")
    return check_pmid(pmid, _where(element))  # raises, naming the entry


def _mesh(heading_list: etree._Element, out: list[dict[str, Any]]) -> None:
    for heading in heading_list.iterchildren("MeshHeading"):
        descriptor, major, ui, qualifiers = "", False, "", []
        for part in heading:  # one pass: DescriptorName then QualifierName*
            tag = part.tag
            if tag == "QualifierName":
                qualifiers.append(_text(part))
            elif tag == "DescriptorName":
                descriptor, ui = _text(part), part.get("UI") or ""
            else:
                continue
            if not major and part.get("MajorTopicYN") == "Y":
                major = True
        if descriptor:
            out.append(
                {"descriptor": descriptor, "ui": ui, "major": major, "qualifiers": qualifiers}
            )


def _article_ids(row: Row, id_list: etree._Element | None) -> None:
    if id_list is None:
        return
    for aid in id_list.iterchildren("ArticleId"):
        kind = aid.get("IdType")
        if kind == "doi" and not row["doi"]:
            row["doi"] = (aid.text or "").strip()
        elif kind == "pmc" and not row["pmcid"]:
            row["pmcid"] = (aid.text or "").strip()


def _history(row: Row, pubmed_data: etree._Element | None) -> None:
    if pubmed_data is None:
        return
    id_list: etree._Element | None = None
    entrez_found = False
    for part in pubmed_data:  # one pass; ReferenceList, often the biggest child, is not entered
        tag = part.tag
        if tag == "History":
            if entrez_found:
                continue
            for d in part.iterchildren("PubMedPubDate"):
                if d.get("PubStatus") == "entrez":
                    row["entrez_date"] = _date_el(d)
                    entrez_found = True
                    break
        elif tag == "ArticleIdList" and id_list is None:
            id_list = part
    _article_ids(row, id_list)


def _article(row: Row, article: etree._Element) -> None:
    """The fields under <Article>, read in one pass over its children (each find() is ~1 µs)."""
    title: etree._Element | None = None
    vernacular: etree._Element | None = None
    journal: etree._Element | None = None
    pagination: etree._Element | None = None
    abstract: etree._Element | None = None
    author_list: etree._Element | None = None
    doi_seen = False
    languages: list[str] = row["languages"]
    publication_types: list[str] = row["publication_types"]
    for part in article:
        tag = part.tag
        if tag == "ArticleTitle":
            if title is None:
                title = part
        elif tag == "Journal":
            if journal is None:
                journal = part
        elif tag == "ELocationID":
            if not doi_seen and part.get("EIdType") == "doi" and part.get("ValidYN") != "N":
                row["doi"] = (part.text or "").strip()
                doi_seen = True
        elif tag == "Language":
            languages.append((part.text or "").strip())
        elif tag == "PublicationTypeList":
            publication_types += [_text(p) for p in part.iterchildren("PublicationType")]
        elif tag == "AuthorList":
            if author_list is None:
                author_list = part
        elif tag == "Abstract":
            if abstract is None:
                abstract = part
        elif tag == "Pagination":
            if pagination is None:
                pagination = part
        elif tag == "ArticleDate":
            if part.get("DateType") == "Electronic":
                row["epub_date"] = _date_el(part)  # the last one wins, as it always has
        elif tag == "VernacularTitle" and vernacular is None:
            vernacular = part
    row["title"] = _text(title) or _text(vernacular)
    if journal is not None:
        _journal(row, journal)
    if pagination is not None:
        medline_pgn, start, end = _first_texts(pagination, _PAGES_PARTS)
        row["pages"] = (medline_pgn or "").strip() or "-".join(p for p in (start, end) if p)
    _abstract(row, abstract)
    row["authors"] = _authors(author_list)


def _journal(row: Row, journal: etree._Element) -> None:
    title: etree._Element | None = None
    iso: etree._Element | None = None
    issue: etree._Element | None = None
    for part in journal:
        tag = part.tag
        if tag == "JournalIssue":
            if issue is None:
                issue = part
        elif tag == "Title":
            if title is None:
                title = part
        elif tag == "ISOAbbreviation" and iso is None:
            iso = part
    row["journal"] = _text(title)
    row["journal_iso"] = _text(iso)
    if issue is None:
        return
    pub_date: etree._Element | None = None
    volume: str | None = None
    number: str | None = None
    for part in issue:
        tag = part.tag
        if tag == "Volume":
            if volume is None:
                volume = part.text or ""
        elif tag == "Issue":
            if number is None:
                number = part.text or ""
        elif tag == "PubDate" and pub_date is None:
            pub_date = part
    row["volume"] = (volume or "").strip()
    row["issue"] = (number or "").strip()
    _pub_date(row, pub_date)


def article_row(
    element: etree._Element, source: str = "efetch", problems: list[str] | None = None
) -> Row:
    """One <PubmedArticle> element -> a row; ``problems`` gets notices whose PMID was dropped.

    Walks each level's children once and dispatches on the tag, instead of a find() per field:
    the same first-match rules as ``find``, at a fraction of the cost (issue 12).
    """
    row = _empty_row(source)
    citation: etree._Element | None = None
    pubmed_data: etree._Element | None = None
    for part in element:
        tag = part.tag
        if tag == "MedlineCitation":
            if citation is None:
                citation = part
        elif tag == "PubmedData" and pubmed_data is None:
            pubmed_data = part
    if citation is None:
        raise ParseError(_where(element), "no MedlineCitation element")
    pmid: str | None = None
    article: etree._Element | None = None
    mesh: list[dict[str, Any]] = row["mesh"]
    keywords: list[str] = row["keywords"]
    cc_lists: list[etree._Element] = []
    for part in citation:
        tag = part.tag
        if tag == "MeshHeadingList":
            _mesh(part, mesh)
        elif tag == "KeywordList":
            keywords += [_text(k) for k in part.iterchildren("Keyword")]
        elif tag == "CommentsCorrectionsList":
            cc_lists.append(part)
        elif tag == "Article":
            if article is None:
                article = part
        elif tag == "PMID" and pmid is None:
            pmid = part.text or ""
    if pmid and is_pmid(pmid):
        row["pmid"] = pmid
    else:  # missing or malformed: the general path finds the same PMID and raises its error
        row["pmid"] = _pmid_of(element, "MedlineCitation/PMID")
    row["citation_status"] = citation.get("Status") or ""
    if article is not None:
        _article(row, article)
    for cc_list in cc_lists:
        _comments_corrections(row, cc_list, problems)
    if "Retracted Publication" in row["publication_types"]:
        row["retracted"] = True
    _history(row, pubmed_data)
    return _finish(row)


def book_row(element: etree._Element, source: str = "efetch") -> Row:
    """One <PubmedBookArticle> (a book or chapter in PubMed) -> a row of kind "book"."""
    row = _empty_row(source)
    row["article_kind"] = "book"
    doc = element.find("BookDocument")
    if doc is None:
        raise ParseError(_where(element), "no BookDocument element")
    row["pmid"] = _pmid_of(element, "BookDocument/PMID")
    book = doc.find("Book")
    row["title"] = _text(doc.find("ArticleTitle")) or _text(
        book.find("BookTitle") if book is not None else None
    )
    if book is not None:
        row["journal"] = _text(book.find("Publisher/PublisherName"))
        _pub_date(row, book.find("PubDate"))
    _abstract(row, doc.find("Abstract"))
    row["authors"] = _authors(doc.find("AuthorList"))
    row["languages"] = [(lang.text or "").strip() for lang in doc.iterfind("Language")]
    row["publication_types"] = [_text(p) for p in doc.iterfind("PublicationType")]
    row["keywords"] = [_text(k) for k in doc.iterfind("KeywordList/Keyword")]
    _history(row, element.find("PubmedBookData"))
    return _finish(row)


@dataclass
class ParseStats:
    """Counts of one parse; ``problems`` says what was skipped or ignored, and where."""

    articles: int = 0
    books: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def _open(source: Source) -> IO[bytes]:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, str | Path):
        return open(source, "rb")  # noqa: SIM115 - closed by the caller's generator
    return source


def parse_pubmed_xml(
    source: Source, *, source_name: str = "efetch", stats: ParseStats | None = None
) -> Iterator[Row]:
    """Stream rows from a PubmedArticleSet (bytes, path or binary file), one per article.

    Book entries are parsed too (``article_kind == "book"``); an entry that cannot be read (no
    or a malformed PMID...) is counted in ``stats.skipped`` and described in ``stats.problems``
    rather than stopping the batch. Malformed XML raises ParseError.
    """
    stats = stats if stats is not None else ParseStats()
    label = str(source) if isinstance(source, str | Path) else "PubMed XML"
    handle = _open(source)
    try:
        events = etree.iterparse(
            handle,
            events=("end",),
            tag=("PubmedArticle", "PubmedBookArticle"),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=True,
        )
        try:
            for _, element in events:
                try:
                    if element.tag == "PubmedArticle":
                        notes: list[str] = []
                        row = article_row(element, source_name, notes)
                        if notes:
                            stats.problems += [f"{label}: {n}" for n in notes]
                        yield row
                        stats.articles += 1
                    else:
                        yield book_row(element, source_name)
                        stats.books += 1
                except ParseError as exc:
                    stats.skipped += 1
                    stats.problems.append(f"{label}: {exc} (entry skipped)")
                element.clear(keep_tail=False)
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            raise ParseError(label, f"malformed XML at line {exc.lineno}: {exc.msg}") from exc
    finally:
        if handle is not source:
            handle.close()


# -- MEDLINE / .nbib ------------------------------------------------------------------------
_MEDLINE_ID = re.compile(r"^\s*(\S+)\s*\[(\w+)\]\s*$")
_MEDLINE_NOTICE_PMID = re.compile(r"PMID:\s*(\w+)")  # "... 2020;1:2. PMID: 12345"


def _medline_notices(values: Iterable[str]) -> list[str]:
    """The notices' PMIDs; one that breaks the PMID rule is left out, as in the XML parse."""
    return [
        m.group(1) for v in values if (m := _MEDLINE_NOTICE_PMID.search(v)) and is_pmid(m.group(1))
    ]


def medline_row(record: dict[str, Any], source: str = "nbib", where: str = "MEDLINE") -> Row:
    """One ``Bio.Medline`` record -> a row of the same shape as the XML parse.

    ``where`` (file and line of the record) is what a bad PMID's error names.
    """
    row = _empty_row(source)
    pmid = record.get("PMID", "")  # as written after "PMID- ": " 12" (two spaces) is malformed
    if not pmid:
        raise ParseError(where, "record without a valid PMID (no 'PMID- ' line)")
    row["pmid"] = check_pmid(pmid, where)
    row["title"] = _squash(record.get("TI", "") or record.get("BTI", ""))
    row["abstract"] = _squash(record.get("AB", ""))
    if row["abstract"]:
        row["abstract_sections"] = [{"label": "", "category": "", "text": row["abstract"]}]
    row["journal"] = record.get("JT", "")
    row["journal_iso"] = record.get("TA", "")
    row["volume"] = record.get("VI", "")
    row["issue"] = record.get("IP", "")
    row["pages"] = record.get("PG", "")
    row["pub_date_text"] = record.get("DP", "")
    row["pub_year"], row["pub_date"] = date_from_text(row["pub_date_text"])
    dep = record.get("DEP", "")
    if len(dep) == 8 and dep.isdigit():
        row["epub_date"] = f"{dep[:4]}-{dep[4:6]}-{dep[6:]}"
    edat = record.get("EDAT", "")
    if re.match(r"\d{4}/\d\d/\d\d", edat):
        row["entrez_date"] = edat[:10].replace("/", "-")
    authors = list(record.get("AU", []))
    row["authors"] = authors + [c for c in record.get("CN", []) if c not in authors]
    for aid in record.get("AID", []) + [record.get("LID", "")]:
        m = _MEDLINE_ID.match(aid or "")
        if m and m.group(2) == "doi" and not row["doi"]:
            row["doi"] = m.group(1)
    row["pmcid"] = record.get("PMC", "")
    row["languages"] = list(record.get("LA", []))
    row["publication_types"] = list(record.get("PT", []))
    mesh = []
    for heading in record.get("MH", []):
        descriptor, *qualifiers = heading.split("/")
        mesh.append(
            {
                "descriptor": descriptor.lstrip("*"),
                "ui": "",
                "major": heading.startswith("*") or any(q.startswith("*") for q in qualifiers),
                "qualifiers": [q.lstrip("*") for q in qualifiers],
            }
        )
    row["mesh"] = mesh
    row["keywords"] = list(record.get("OT", []))
    row["citation_status"] = record.get("STAT", "")
    row["retraction_notices"] = _medline_notices(record.get("RIN", []))
    row["concern_notices"] = _medline_notices(record.get("ECI", []))
    row["errata"] = _medline_notices(record.get("EIN", []))
    row["retracted"] = (
        bool(record.get("RIN")) or "Retracted Publication" in row["publication_types"]
    )
    row["expression_of_concern"] = bool(record.get("ECI"))
    return _finish(row)


def not_utf8(data: bytes, error: UnicodeDecodeError) -> tuple[int, str]:
    """Line and reason for bytes that failed to decode, so every reader reports them alike.

    ``error`` comes from decoding all of ``data`` with "utf-8-sig", so its offset is exact
    (less a BOM).
    """
    offset = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    line = data.count(b"\n", 0, offset) + 1
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return line, "the file is UTF-16 text; save it as UTF-8"
    return line, (
        f"not UTF-8 text (byte 0x{data[offset]:02x} at byte offset {offset}); save it as UTF-8"
    )


def read_utf8(path: Path) -> str:
    """A whole text file decoded strictly (a UTF-8 BOM is dropped); a bad byte is a ParseError.

    Decoding all at once, rather than line by line, gives the exact place of a bad byte and keeps
    a half-read file from ever reaching the store.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, reason = not_utf8(data, exc)
        raise ParseError(f"{path}:{line}", reason) from None


class _CountedLines:
    """Lines passed on to ``Bio.Medline``, counted, so errors can name a record's first line."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.number = 0  # the line last handed out
        self.starts: list[int] = []  # first line of each blank-line-separated record

    def __iter__(self) -> Iterator[str]:
        blank = True
        for line in self._lines:
            self.number += 1
            is_blank = line in ("\n", "\r\n")  # what Bio.Medline takes for a record break
            if blank and not is_blank:
                self.starts.append(self.number)
            blank = is_blank
            yield line


def parse_medline(source: str | Path | IO[str], source_name: str = "nbib") -> Iterator[Row]:
    """Rows from a PubMed-format (MEDLINE / .nbib) export; an error names the file and line."""
    if isinstance(source, str | Path):
        label = str(source)
        handle: IO[str] = io.StringIO(read_utf8(Path(source)), newline=None)
    else:
        label, handle = str(getattr(source, "name", "MEDLINE")), source
    lines = _CountedLines(handle)
    records = Medline.parse(lines)
    index = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:  # an open text handle in the wrong encoding
            where = f"{label}:{lines.number + 1}"
            raise ParseError(where, f"cannot decode as {exc.encoding}: {exc.reason}") from None
        except KeyError:  # Bio.Medline: a continuation line (6 spaces) with no field before it
            raise ParseError(
                f"{label}:{lines.number}",
                "not PubMed (MEDLINE) format: an indented line with no field tag before it",
            ) from None
        yield medline_row(record, source_name, where=f"{label}:{lines.starts[index]}")
        index += 1


def records_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly the record columns and dtypes, last PMID wins.

    A field a row leaves out gets its empty value (``""``, ``[]``, False), as the parsers give.
    """
    frame = pd.DataFrame(
        [{**_empty_row(r.get("source", "")), **r} for r in rows], columns=RECORD_FIELDS.names
    )
    if frame.empty:
        return RECORD_ROWS.empty()
    frame = frame.drop_duplicates("pmid", keep="last")
    return RECORD_ROWS.conform(frame)

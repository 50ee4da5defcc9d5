"""The citable facts of one stored record, read once so every style and export shows the same.

Every fact comes from a stored field; a missing one is left out, never guessed. Three judgements
are made here and nowhere else:

- **Ahead of print**: the record has no volume, issue or pages yet and PubMed says it appeared
  online (an electronic publication date, or a publisher-supplied citation: status "Publisher").
  Only then do the styles write "Published online" (AMA) or "[Epub ahead of print]" (NLM). A
  record that merely lacks those fields (a curated entry whose source page did not show them) is
  cited by its year, with nothing invented.
- **Truncated author list**: the curated corpus lists only the first author when its source page
  said "et al." (``data/corpus/README.md``), so a curated record with one author gets "et al.".
  PubMed records carry the whole list.
- **Page ranges**: MEDLINE abbreviates ("1299-307"), publishers often do not ("1299-1307");
  `page_range` writes either form from either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from .cells import as_list, as_text
from .pmids import is_pmid

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ABBR = {m[:3].lower(): m[:3] for m in MONTHS}
_RANGE = re.compile(
    r"\s*(?P<p1>[A-Za-z]*)(?P<n1>\d+)(?P<s1>[A-Za-z]*)\s*[-\u2013]\s*"
    r"(?P<p2>[A-Za-z]*)(?P<n2>\d+)(?P<s2>[A-Za-z]*)\s*"
)
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_SEASONS = ("Spring", "Summer", "Fall", "Autumn", "Winter")
# "2001 Mar 14", "2006 Feb-Apr", "2020 Dec 1-15", "2021 Spring": PubMed's printed date forms.
_NLM_DATE = re.compile(
    r"^(?P<year>\d{4})"
    r"(?: (?P<month>[A-Za-z]{3}(?:-[A-Za-z]{3})?|" + "|".join(_SEASONS) + r")"
    r"(?: (?P<day>\d{1,2}(?:-\d{1,2})?))?)?$"
)


def split_author(name: str) -> dict[str, str]:
    """PubMed "Family AB" -> a CSL name; anything else (a collective name) stays literal."""
    parts = name.split()
    initials = parts[-1] if parts else ""
    if len(parts) >= 2 and len(initials) <= 4 and initials.isalpha() and initials.isupper():
        return {"family": " ".join(parts[:-1]), "given": " ".join(parts[-1])}
    return {"literal": name.strip()}


def is_collective(name: str) -> bool:
    """A group or organisation as author ("SYNTHETIC Study Group"), not "Family Initials"."""
    return "literal" in split_author(name)


def page_range(pages: str, form: Literal["full", "short"]) -> str:
    """A page range as a style writes it: "full" (AMA: 1299-1307) or "short" (NLM: 1299-307).

    The short form drops the leading digits the last page shares with the first, as MEDLINE
    does (12-19 -> 12-9, 21-30 stays, 1199-1205 -> 1199-205). Pages with letters ("E319-E327",
    "124A-126A") are written in full in both forms, and anything that is not a plain range (an
    article number "e0123456", "iii-v", a list) is kept as stored.
    """
    text = " ".join((pages or "").split())
    m = _RANGE.fullmatch(text)
    if not m:
        return text
    first, last = m["n1"], m["n2"]
    if len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    if int(last) < int(first):
        return text  # not a range we understand ("1299-12"): show what the record says
    if last == first and not any(m[k] for k in ("p1", "s1", "p2", "s2")):
        return first  # "12-12" is one page
    lettered = any(m[k] for k in ("p1", "s1", "p2", "s2"))
    if lettered:
        prefix, suffix = m["p1"], m["s1"]
        return f"{prefix}{first}{suffix}-{m['p2'] or prefix}{last}{m['s2'] or suffix}"
    if form == "short" and len(last) == len(first):
        shared = 0
        while shared < len(first) - 1 and first[shared] == last[shared]:
            shared += 1
        last = last[shared:]
    return f"{first}-{last}"


def _clean(value: Any) -> str:
    return " ".join(as_text(value).split())


def _iso_parts(text: str) -> tuple[int, int | None, int | None] | None:
    m = _ISO.match(text.strip())
    if not m:
        return None
    month = int(m[2]) if m[2] and 1 <= int(m[2]) <= 12 else None
    day = int(m[3]) if m[3] and month and 1 <= int(m[3]) <= 31 else None
    return int(m[1]), month, day


def nlm_date(text: str) -> str:
    """An ISO date (YYYY, YYYY-MM, YYYY-MM-DD) as NLM writes it: "2001 Mar 14"."""
    parts = _iso_parts(text)
    if parts is None:
        return ""
    year, month, day = parts
    out = str(year)
    if month:
        out += f" {MONTHS[month - 1][:3]}"
        if day:
            out += f" {day}"
    return out


def ama_date(text: str) -> str:
    """An ISO date as AMA writes it: "March 14, 2001", "March 2001" or "2001"."""
    parts = _iso_parts(text)
    if parts is None:
        return ""
    year, month, day = parts
    if month and day:
        return f"{MONTHS[month - 1]} {day}, {year}"
    if month:
        return f"{MONTHS[month - 1]} {year}"
    return str(year)


def _printed_date(date_text: str, iso: str, year: int | None) -> str:
    """The issue date NLM prints: PubMed's own text when it has a known form, else from ISO."""
    m = _NLM_DATE.match(" ".join(date_text.split()))
    if m and (year is None or int(m["year"]) == year):
        month = m["month"]
        if month and month not in _SEASONS:
            names = [_ABBR.get(part.lower()) for part in month.split("-")]
            month = "-".join(n for n in names if n) if all(names) else None
        if month or not m["month"]:
            return " ".join(p for p in (m["year"], month, m["day"] if month else None) if p)
    return nlm_date(iso) or (str(year) if year else "")


@dataclass(frozen=True)
class Reference:
    """What a citation may show of one record; "" or None where the record has nothing."""

    pmid: str
    kind: str  # "journal" or "book" (a PubMed book or chapter; ``journal`` is its publisher)
    authors: tuple[str, ...]
    authors_truncated: bool  # only the first author(s) are known: the list ends in "et al."
    title: str
    journal: str  # full title as stored
    journal_abbrev: str  # NLM/ISO abbreviation without periods; "" when not stored
    year: int | None
    date_nlm: str  # the issue date as NLM prints it: "2001 Mar 14", "2006 Feb-Apr", "2001"
    pub_date: str  # ISO prefix
    volume: str
    issue: str
    pages: str  # as stored
    doi: str
    pmcid: str
    epub_date: str  # ISO
    ahead_of_print: bool
    retracted: bool
    retraction_notices: tuple[str, ...]

    @property
    def journal_short(self) -> str:
        """The name a style prints: the NLM abbreviation, else the stored title."""
        return self.journal_abbrev or self.journal

    @property
    def online_date(self) -> str:
        """ISO date of the online publication of an ahead-of-print record."""
        return self.epub_date or self.pub_date or (str(self.year) if self.year else "")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Reference:
        authors = tuple(_clean(a) for a in as_list(row.get("authors")) if _clean(a))
        year_value = row.get("pub_year")
        year = None if year_value is None or pd.isna(year_value) else int(year_value)
        volume, issue, pages = (_clean(row.get(k)) for k in ("volume", "issue", "pages"))
        epub = _clean(row.get("epub_date"))
        status = _clean(row.get("citation_status"))
        retracted = row.get("retracted")
        pub_date = _clean(row.get("pub_date"))
        return cls(
            pmid=_clean(row.get("pmid")),
            kind="book" if row.get("article_kind") == "book" else "journal",
            authors=authors,
            authors_truncated=_clean(row.get("source")) == "curated" and len(authors) == 1,
            title=_clean(row.get("title")).rstrip(". ").strip(),
            journal=_clean(row.get("journal")),
            journal_abbrev=_clean(row.get("journal_iso")).replace(".", ""),
            year=year,
            date_nlm=_printed_date(_clean(row.get("pub_date_text")), pub_date, year),
            pub_date=pub_date,
            volume=volume,
            issue=issue,
            pages=pages,
            doi=_clean(row.get("doi")),
            pmcid=_clean(row.get("pmcid")),
            epub_date=epub,
            ahead_of_print=not (volume or issue or pages)
            and (bool(_iso_parts(epub)) or status == "Publisher"),
            retracted=retracted is not None and not pd.isna(retracted) and bool(retracted),
            # A store written before the PMID rule may hold a notice's text instead of a PMID.
            retraction_notices=tuple(
                n for n in (_clean(x) for x in as_list(row.get("retraction_notices"))) if is_pmid(n)
            ),
        )


def references(records: pd.DataFrame) -> list[Reference]:
    return [Reference.from_row(r) for r in records.to_dict("records")]

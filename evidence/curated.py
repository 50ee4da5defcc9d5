"""Curator-judged evidence (JSONL or CSV) -> record, link and tag frames for the store.

The embedded default set (``shared/corpus/curated_evidence.jsonl``) and an editor's own file go
through this one reader, so both get the same validation: an unknown claim id, a malformed PMID, an
unknown stance or design, or bad JSON fails with a `CuratedError` naming the file, line and field.
The output is deterministic (sorted, hashed from content only, ``now`` passed in), so importing the
same file twice gives identical frames and the store sees no change.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import ParseError
from .pmids import check_pmid
from .records import content_hash, not_utf8, records_frame
from .schema import CURATOR_STANCES, DESIGNS, LINKS, RECORD_FIELDS, TAGS

UPDATED_BY = "curator import"
CSV_REQUIRED = ("pmid", "claim", "stance", "note")
CSV_OPTIONAL = ("doi", "title", "journal", "year", "authors", "design", "sample_size")
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "del", "della", "di", "du", "la"})
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CuratedError(ParseError):
    """A curated file failed validation; names the file, the line and the field."""

    def __init__(self, path: Path | str, line: int | None, field: str, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(where, f"field {field!r}: {reason}")


class _Judgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: NonEmpty
    stance: NonEmpty
    why: str = ""
    # Absent means direct; an indirect judgement says why (another treatment, population...).
    direct: bool = True
    indirect_because: str = ""


class _Entry(BaseModel):
    """One curated study as the corpus README describes it."""

    model_config = ConfigDict(extra="forbid")

    pmid: NonEmpty
    doi: str = ""
    title: str = ""
    journal: str = ""
    journal_abbrev: str = ""
    year: int | None = None
    pub_month: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    pmcid: str = ""
    authors: list[str] = []
    design: str = ""
    sample_size: int | None = Field(default=None, ge=0)
    population: str = ""
    finding: str = ""
    topics: list[str] = []
    claims: list[_Judgement] = Field(min_length=1)
    source_url: str = ""


@dataclass(frozen=True)
class CuratedSet:
    """Frames for the store: ``records`` (RECORD_FIELDS), ``links`` (LINKS), ``tags`` (TAGS)."""

    records: pd.DataFrame
    links: pd.DataFrame
    tags: pd.DataFrame


def normalise_author(name: str) -> str:
    """Write "Forename Surname" as "Surname FS"; keep "Surname Initials" and collective names.

    PubMed lists authors as "Family AB"; curated pages showed either form, and matching authors
    across sources needs one.
    """
    parts = name.split()
    if len(parts) < 2:
        return name.strip()
    suffix = ""
    if parts[-1].lower() in _SUFFIXES and len(parts) > 2:
        suffix, parts = " " + parts[-1], parts[:-1]
    last = parts[-1]
    if last.isupper() and last.isalpha() and len(last) <= 4:
        return " ".join(parts) + suffix  # already "Surname Initials"
    family_start = len(parts) - 1
    while family_start > 1 and parts[family_start - 1].lower() in _PARTICLES:
        family_start -= 1
    given = parts[:family_start]
    initials = "".join(p[0].upper() for g in given for p in g.split("-") if p and p[0].isalpha())
    return f"{' '.join(parts[family_start:])} {initials}{suffix}".strip()


def _record_row(entry: _Entry) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in RECORD_FIELDS:
        if pa.types.is_list(f.type):
            row[f.name] = []
        elif pa.types.is_boolean(f.type):
            row[f.name] = False
        elif pa.types.is_integer(f.type):
            row[f.name] = None
        else:
            row[f.name] = ""
    year = entry.year
    month = entry.pub_month.strip()
    month_number = _MONTHS.get(month[:3].lower()) if month else None
    pub_date = f"{year:04d}" if year else ""
    if pub_date and month_number:
        pub_date += f"-{month_number:02d}"
    row.update(
        pmid=entry.pmid,
        title=entry.title.strip(),
        journal=entry.journal.strip(),
        journal_iso=entry.journal_abbrev.strip(),
        volume=entry.volume.strip(),
        issue=entry.issue.strip(),
        pages=entry.pages.strip(),
        pub_year=year,
        pub_date=pub_date,
        pub_date_text=" ".join(p for p in (str(year) if year else "", month) if p),
        authors=[normalise_author(a) for a in entry.authors if a.strip()],
        doi=entry.doi.strip(),
        pmcid=entry.pmcid.strip(),
        article_kind="journal",
        source="curated",
    )
    row["content_hash"] = content_hash(row)
    return row


def _note(why: str, entry: _Entry) -> str:
    parts = [why.strip()]
    if entry.finding.strip():
        parts.append(f"Finding: {entry.finding.strip()}")
    if entry.population.strip():
        parts.append(f"Population: {entry.population.strip()}")
    return "\n\n".join(p for p in parts if p)


def _check(
    path: Path, line: int, entry: _Entry, claim_ids: set[str], topics: set[str] | None
) -> None:
    month = entry.pub_month.strip()
    if month and any(m[:3].lower() not in _MONTHS for m in month.split("-")):
        raise CuratedError(
            path, line, "pub_month", f"not a month like 'Mar' or 'Jul-Aug': {month!r}"
        )
    if entry.design and entry.design not in DESIGNS:
        raise CuratedError(path, line, "design", f"unknown design {entry.design!r}")
    if topics is not None:
        for t in entry.topics:
            if t not in topics:
                known = ", ".join(sorted(topics))
                raise CuratedError(path, line, "topics", f"unknown topic {t!r} (known: {known})")
    seen: set[str] = set()
    for j in entry.claims:
        if j.claim not in claim_ids:
            raise CuratedError(path, line, "claim", f"unknown claim id {j.claim!r}")
        if j.stance not in CURATOR_STANCES:
            choices = ", ".join(CURATOR_STANCES)
            raise CuratedError(path, line, "stance", f"unknown stance {j.stance!r} ({choices})")
        if j.direct and j.indirect_because.strip():
            raise CuratedError(
                path, line, "indirect_because", f"claim {j.claim}: given, but 'direct' is not false"
            )
        if not j.direct and not j.indirect_because.strip():
            raise CuratedError(
                path, line, "indirect_because", f"claim {j.claim}: 'direct' is false; say why"
            )
        if j.claim in seen:
            raise CuratedError(path, line, "claim", f"claim {j.claim} judged twice")
        seen.add(j.claim)


def _pmid(path: Path, line: int, value: object) -> str:
    """The one PMID rule (`evidence.pmids`), reported as a curated file's error."""
    try:
        return check_pmid(value, "pmid")
    except ParseError as e:
        raise CuratedError(path, line, "pmid", e.reason) from None


def _entry(path: Path, line: int, data: object) -> _Entry:
    try:
        return _Entry.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(line)"
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise CuratedError(path, line, field, reason) from error


def _text(path: Path) -> str:
    """The whole file, decoded strictly (a UTF-8 BOM is dropped), before anything is parsed."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CuratedError(path, None, "(file)", f"cannot read: {e}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, reason = not_utf8(data, e)
        raise CuratedError(path, line, "(file)", reason) from None


def _read_jsonl(
    path: Path, text: str, claim_ids: set[str], topics: set[str] | None
) -> list[_Entry]:
    entries = []
    first_line: dict[str, int] = {}
    for line_no, line in enumerate(io.StringIO(text, newline=None), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise CuratedError(path, line_no, "(json)", f"bad JSON: {e.msg}") from e
        if isinstance(data, dict) and "pmid" in data:
            pmid = data["pmid"]
            if isinstance(pmid, int) and not isinstance(pmid, bool):
                pmid = str(pmid)  # JSON numbers cannot carry a leading zero, so this is safe
            data["pmid"] = _pmid(path, line_no, pmid)
        entry = _entry(path, line_no, data)
        _check(path, line_no, entry, claim_ids, topics)
        if entry.pmid in first_line:
            raise CuratedError(
                path, line_no, "pmid", f"PMID {entry.pmid} already on line {first_line[entry.pmid]}"
            )
        first_line[entry.pmid] = line_no
        entries.append(entry)
    return entries


def _csv_int(path: Path, line: int, field: str, value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError as e:
        raise CuratedError(path, line, field, f"not a whole number: {value!r}") from e


def _csv_row(path: Path, reader: Any) -> list[str] | None:
    """The next row, None at the end; malformed quoting is an error naming where the row starts."""
    start = reader.line_num + 1
    try:
        return next(reader, None)
    except csv.Error as e:
        raise CuratedError(path, start, "(row)", f"malformed CSV: {e}") from e


@dataclass
class _CsvPmid:
    """The rows of one PMID merged so far, and the line each value was first given on."""

    line: int
    data: dict[str, Any]
    given_on: dict[str, int]
    judged_on: dict[str, int]


def _read_csv(path: Path, text: str, claim_ids: set[str], topics: set[str] | None) -> list[_Entry]:
    """One CSV row per (PMID, claim); rows of one PMID merge into one entry.

    Each row is checked on its own, so an error names the line the row starts on (a quoted note
    may run over several lines).
    """
    # strict: a quote never closed fails instead of swallowing the rows after it into one cell
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = [h.strip() for h in _csv_row(path, reader) or []]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise CuratedError(path, 1, missing[0], f"missing column(s) {missing}")
    unknown = [c for c in header if c not in CSV_REQUIRED + CSV_OPTIONAL]
    if unknown:
        raise CuratedError(path, 1, unknown[0], f"unknown column(s) {unknown}")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise CuratedError(path, 1, twice[0], f"column(s) given twice {twice}")
    merged: dict[str, _CsvPmid] = {}
    end = reader.line_num
    while (cells := _csv_row(path, reader)) is not None:
        line, end = end + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue  # a blank line, or a spreadsheet's empty row (",,,")
        if len(cells) > len(header):
            raise CuratedError(
                path,
                line,
                "(row)",
                f"{len(cells)} cells, header has {len(header)}; quote fields that contain commas",
            )
        given = dict(zip(header, cells, strict=False))  # a short row leaves the last cells out
        values = {h: given.get(h, "").strip() for h in header}
        data: dict[str, Any] = {
            "pmid": _pmid(path, line, given.get("pmid", "")),  # as written: " 12" is refused
            "doi": values.get("doi", ""),
            "title": values.get("title", ""),
            "journal": values.get("journal", ""),
            "year": _csv_int(path, line, "year", values.get("year", "")),
            "authors": [a.strip() for a in values.get("authors", "").split(";") if a.strip()],
            "design": values.get("design", ""),
            "sample_size": _csv_int(path, line, "sample_size", values.get("sample_size", "")),
            "claims": [
                {"claim": values["claim"], "stance": values["stance"], "why": values["note"]}
            ],
        }
        row = _entry(path, line, data)
        _check(path, line, row, claim_ids, topics)
        _merge_csv_row(path, line, merged, data, row.claims[0].claim)
    return [_entry(path, m.line, m.data) for m in merged.values()]


def _merge_csv_row(
    path: Path, line: int, merged: dict[str, _CsvPmid], data: dict[str, Any], claim: str
) -> None:
    """Fold a checked row into its PMID's entry; a value given twice must agree, a claim be
    judged once, and an error names the line of the row that breaks this."""
    pmid = data["pmid"]
    given = {
        k: v for k, v in data.items() if k not in ("pmid", "claims") and v not in ("", None, [])
    }
    so_far = merged.get(pmid)
    if so_far is None:
        merged[pmid] = _CsvPmid(line, data, dict.fromkeys(given, line), {claim: line})
        return
    for key, value in given.items():
        if key not in so_far.given_on:
            so_far.data[key], so_far.given_on[key] = value, line
        elif so_far.data[key] != value:
            raise CuratedError(
                path, line, key, f"differs from line {so_far.given_on[key]} for PMID {pmid}"
            )
    if claim in so_far.judged_on:
        raise CuratedError(
            path,
            line,
            "claim",
            f"claim {claim} judged twice for PMID {pmid} (first on line {so_far.judged_on[claim]})",
        )
    so_far.judged_on[claim] = line
    so_far.data["claims"].extend(data["claims"])


def read_curated(
    path: Path,
    claim_ids: set[str],
    now: pd.Timestamp | None = None,
    topics: set[str] | None = None,
    run_id: str = "",
) -> CuratedSet:
    """Read and validate a curated JSONL or CSV file against the registry's claim ids.

    ``now`` stamps ``links.updated_at`` (None leaves it empty), so repeated imports can be made
    byte-identical; ``topics`` (the registry's topic keys) is checked when given. The whole file
    is decoded and checked before any frame is made; errors come in file order.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise CuratedError(path, None, "(file)", "expected a .jsonl or .csv file")
    read = _read_jsonl if suffix == ".jsonl" else _read_csv
    entries = read(path, _text(path), claim_ids, topics)
    return curated_frames(entries, now=now, run_id=run_id)


def curated_frames(
    entries: Iterable[_Entry], now: pd.Timestamp | None = None, run_id: str = ""
) -> CuratedSet:
    """Validated entries -> the three frames, sorted so equal input gives equal frames."""
    entries = sorted(entries, key=lambda e: int(e.pmid))
    updated_at = pd.Timestamp(now).tz_convert("UTC") if now is not None else None
    links, tags = [], []
    for e in entries:
        for j in e.claims:
            links.append(
                {
                    "claim_id": j.claim,
                    "pmid": e.pmid,
                    "relevance": math.nan,
                    "stance": j.stance,
                    "stance_origin": "curator",
                    "stance_confidence": 1.0,
                    "stance_evidence": e.finding.strip(),
                    "note": _note(j.why, e),
                    "direct": j.direct,
                    "indirect_because": j.indirect_because.strip(),
                    "in_latest_query": False,
                    "first_linked_run": run_id,
                    "updated_at": updated_at,
                    "updated_by": UPDATED_BY,
                }
            )
        curator = {"pmid": e.pmid, "origin": "curator", "confidence": 1.0}
        if e.design:
            tags.append({**curator, "tag": e.design, "kind": "design", "value": e.design})
        if e.sample_size is not None:
            tags.append(
                {
                    **curator,
                    "tag": "sample_size",
                    "kind": "sample_size",
                    "value": str(e.sample_size),
                }
            )
        for topic in sorted(set(e.topics)):
            tags.append({**curator, "tag": topic, "kind": "topic", "value": ""})
    links_df = pd.DataFrame(links, columns=LINKS.columns) if links else LINKS.empty()
    links_df = links_df.sort_values(["claim_id", "pmid"], key=_natural).reset_index(drop=True)
    tags_df = pd.DataFrame(tags, columns=TAGS.columns) if tags else TAGS.empty()
    return CuratedSet(
        records=records_frame(_record_row(e) for e in entries),
        links=LINKS.conform(links_df),
        tags=TAGS.conform(tags_df),
    )


def _natural(column: pd.Series) -> pd.Series:
    """Sort PMIDs numerically (as PubMed does) and claim ids as text."""
    return column.astype(int) if column.name == "pmid" else column

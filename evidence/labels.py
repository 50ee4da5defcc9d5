"""How the dashboard words its tables: human column labels, counts with the right plural, dates
as dates, and empty cells that look empty.

One place for every page, so a column reads the same wherever it appears and a stored name
(``run_id``, ``n_supports``) never reaches a reader. Pure functions; Streamlit is not imported.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# Stored or computed column name -> the header a reader sees.
LABELS = {
    # claims and verdicts
    "claim_id": "Claim",
    "claim": "Claim",
    "claims": "Linked claims",
    "statement": "Statement",
    "topics": "Topics",
    "content_file": "Post",
    "verdict": "Verdict",
    "grade": "Verdict",
    "before": "Verdict before",
    "after": "Verdict after",
    "direction": "Direction",
    "certainty": "Certainty",
    "standing": "Status",
    "attention": "Needs attention because",
    "direct_evidence": "Best direct test",
    "needs_review": "Needs review",
    "parts": "Parts",
    "score": "Score",
    "score_before": "Score before",
    "score_after": "Score after",
    "supporting": "Supporting",
    "contradicting": "Contradicting",
    "mixed": "Mixed",
    "n_supports": "Supporting studies",
    "n_contradicts": "Contradicting studies",
    "best_level": "Best level",
    "newest_evidence": "Newest evidence",
    "cites_retracted": "Cites a retracted study",
    "new_since_review": "New since review",
    "not_assessed": "Not yet assessed",
    "awaiting_review": "Suggested, awaiting review",
    "flags": "Flags",
    "changed": "Verdict changed",
    "what to do": "What to do",
    "sentence": "Sentence in the post",
    # studies
    "pmid": "PMID",
    "title": "Study",
    "journal": "Journal",
    "year": "Year",
    "pub_year": "Year",
    "authors": "Authors",
    "design": "Design",
    "level": "Level",
    "n": "Participants",
    "stance": "Stance",
    "stance_origin": "Judged by",
    "direct": "Direct",
    "indirect_because": "Indirect because",
    "confidence": "Confidence",
    "relevance": "Relevance",
    "retracted": "Retracted",
    "deciding": "Deciding",
    "note": "Curator's note",
    "has_abstract": "Abstract",
    "mesh": "MeSH terms",
    "pubmed_url": "PubMed",
    "doi_url": "DOI",
    "summary": "What changed",
    # runs and the audit log
    "run_id": "Run",
    "computed_at": "Graded on",
    "started_at": "Started",
    "ended_at": "Ended",
    "status": "Status",
    "mode": "Mode",
    "new_records": "New records",
    "updated_records": "Updated records",
    "retracted_records": "Retracted records",
    "network_requests": "Network requests",
    "error": "Error",
    "report_path": "Report",
    "at": "When",
    "actor": "Editor",
    "action": "Action",
}

# What an editor's audited action reads as (the audit log stores the ids on the left).
ACTIONS = {
    "set_stance": "stance set",
    "accept_suggestion": "suggestion accepted",
    "mark_irrelevant": "marked irrelevant",
    "set_note": "note saved",
    "add_link": "study attached",
    "set_directness": "directness set",
}

# How a stance's origin reads in a table.
ORIGINS = {"curator": "curator", "suggested": "machine (not counted)", "query": "not assessed"}


def direction(value: str) -> str:
    """A verdict's direction in words: "none" (nothing curator-confirmed) reads "no evidence"."""
    return "no evidence" if value == "none" else value


def label(column: str) -> str:
    """The header of ``column``; an unknown name still reads as words, never as snake_case."""
    known = LABELS.get(column)
    if known is not None:
        return known
    words = str(column).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def count(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 study", "2 studies", "0 claims": the number with its noun in the right number."""
    if plural is None:
        if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
            plural = singular[:-1] + "ies"
        elif singular.endswith(("s", "x", "ch", "sh")):
            plural = singular + "es"
        else:
            plural = singular + "s"
    return f"{n:,} {singular if n == 1 else plural}"


def when(value: Any, *, long: bool = False) -> str:
    """A stored time for a reader, in UTC: "2026-11-26 14:03" (sorts as text, for table cells)
    or, ``long``, "26 Nov 2026 14:03" (for sentences); just the date when it has no time of day
    (a run dated at midnight is a date, not "00:00:00"); "" when missing."""
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
        return ""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    date = f"{ts.day} {ts:%b %Y}" if long else f"{ts:%Y-%m-%d}"
    if ts == ts.normalize():
        return date
    return f"{date} {ts:%H:%M}"


def day(value: Any) -> str:
    """A stored time as its date ("2026-11-26"); "" when missing."""
    text = when(value)
    return text[:10]


def display(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a reader sees it: missing text and numbers are empty cells (never "None",
    "nan" or "<NA>"), times are dates or minutes; numbers without gaps stay numbers (so they
    still sort as numbers)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
            out[col] = [when(x) for x in s]
        elif pd.api.types.is_bool_dtype(s) and not s.isna().any():
            out[col] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s):
            if s.isna().any():
                out[col] = [_number_text(x) for x in s]
        else:
            out[col] = [_cell_text(x) for x in s]
    return out


def _number_text(x: Any) -> str:
    if x is None or pd.isna(x):
        return ""
    f = float(x)
    return f"{int(f)}" if f.is_integer() else f"{f:.2f}"


def _cell_text(x: Any) -> Any:
    if x is None or x is pd.NA or x is pd.NaT:
        return ""
    if isinstance(x, float) and pd.isna(x):
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, pd.Timestamp):
        return when(x)
    return x if isinstance(x, str) else str(x)

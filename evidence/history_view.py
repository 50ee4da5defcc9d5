"""What the history shows: refresh runs, editors' actions and each claim's verdict over time, in
words.

Every frame here is ready to show: headers in plain words, no empty-value markers, dates as
dates (a time only when one was recorded), an editor's action as a sentence saying who changed
what, why, and what it did to the verdict. Editors' verdict rows are those `evidence.curation`
writes (run id `curation.is_edit`), matched to their audit row by time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .cells import as_text
from .curation import (
    ACCEPT_SUGGESTION,
    ADD_NOTE,
    ATTACH_PMID,
    MARK_IRRELEVANT,
    SET_DIRECTNESS,
    SET_STANCE,
    is_edit,
)
from .labels import count, when
from .store import rows_of

RUN_COLUMNS = [
    "Run",
    "Started (UTC)",
    "Finished (UTC)",
    "Status",
    "Kind",
    "New studies",
    "Updated studies",
    "Retractions",
    "PubMed requests",
    "Problem",
]
AUDIT_COLUMNS = ["When (UTC)", "Who", "What happened", "Verdict"]
HISTORY_COLUMNS = ["When (UTC)", "Who", "What happened", "Verdict"]
_STATUS = {"success": "Finished", "failed": "Failed", "running": "Running", "dry-run": "Dry run"}
_KIND = {
    "incremental": "Refresh",
    "full": "Full refresh",
    "offline": "Offline refresh (from the cache)",
    "curated import": "Curated import",
    "nbib import": "PubMed file import",
    "editor fetch": "Fetched from PubMed for an editor",
}


# --- words -------------------------------------------------------------------------------------


def grade_text(grade: Any, score: Any) -> str:
    if grade is None or pd.isna(grade):
        return ""
    return f"{grade} ({int(score)})" if score is not None and not pd.isna(score) else str(grade)


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(as_text(text) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def describe_action(row: Mapping[str, Any], *, with_claim: bool = True) -> str:
    """An audit row as a sentence without its actor: "set PMID 123 on C03 to supports (was
    mixed): “a note”"."""
    action = as_text(row.get("action"))
    pmid = as_text(row.get("pmid"))
    claim = as_text(row.get("claim_id"))
    before, after = _json(row.get("before")), _json(row.get("after"))
    note = as_text(row.get("note")).strip()
    quote = f": “{note}”" if note else ""
    on = f" on {claim}" if with_claim and claim else ""
    to = f" to {claim}" if with_claim and claim else ""
    for_ = f" for {claim}" if with_claim and claim else ""
    stance, was = as_text(after.get("stance")), as_text(before.get("stance"))
    changed = f" (was {was})" if was and was != stance else ""
    if action == SET_STANCE:
        return f"set PMID {pmid}{on} to {stance}{changed}{quote}"
    if action == ACCEPT_SUGGESTION:
        return f"accepted the suggested stance “{stance}” for PMID {pmid}{on}{quote}"
    if action == MARK_IRRELEVANT:
        return f"marked PMID {pmid} irrelevant{to}{changed}{quote}"
    if action == ATTACH_PMID:
        how = f" as {stance}" if stance and stance != "unassessed" else ", to be assessed"
        return f"attached PMID {pmid}{to}{how}{quote}"
    if action == ADD_NOTE:
        return (
            f"wrote a note on PMID {pmid}{on}{quote}"
            if note
            else f"cleared the note on PMID {pmid}{on}"
        )
    if action == SET_DIRECTNESS:
        if after.get("direct", True):
            return f"marked PMID {pmid} as direct evidence{for_}"
        return f"marked PMID {pmid} as indirect{for_}{quote}"
    return f"{action.replace('_', ' ')} on PMID {pmid}{on}{quote}"


def _verdict_change(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    now = grade_text(after["grade"], after["score"])
    if before is None:
        return now
    was = grade_text(before["grade"], before["score"])
    return f"{was} → {now}" if was != now else f"{now}, unchanged"


# --- refresh runs ------------------------------------------------------------------------------


def runs_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run, newest first, in words (the "Run" column is the run's id)."""
    runs = tables["runs"].sort_values("started_at", ascending=False).reset_index(drop=True)
    out = pd.DataFrame(
        {
            "Run": runs["run_id"].astype(str),
            "Started (UTC)": runs["started_at"].map(lambda v: when(v, long=True)),
            "Finished (UTC)": runs["ended_at"].map(lambda v: when(v, long=True)),
            "Status": runs["status"].map(lambda s: _STATUS.get(as_text(s), as_text(s))),
            "Kind": runs["mode"].map(lambda m: _KIND.get(as_text(m), as_text(m).capitalize())),
            "New studies": runs["new_records"].fillna(0).astype(int),
            "Updated studies": runs["updated_records"].fillna(0).astype(int),
            "Retractions": runs["retracted_records"].fillna(0).astype(int),
            "PubMed requests": runs["network_requests"].fillna(0).astype(int),
            "Problem": runs["error"].map(as_text),
        },
        columns=RUN_COLUMNS,
    )
    return out


def run_report_path(tables: Mapping[str, pd.DataFrame], run_id: str) -> str:
    runs = tables["runs"]
    hit = runs[runs["run_id"].eq(run_id)]
    return as_text(hit["report_path"].iloc[0]) if len(hit) else ""


def run_report(report_path: str, data_dir: Path) -> str | None:
    """A run's report text (path as stored, relative to the data folder), None if absent."""
    if not report_path:
        return None
    path = Path(report_path)
    path = path if path.is_absolute() else data_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class RunChanges:
    record_changes: pd.DataFrame  # PMID, Study, What changed
    verdict_changes: pd.DataFrame  # Claim, Before, After
    new_links: int


def run_changes(tables: Mapping[str, pd.DataFrame], run_id: str) -> RunChanges:
    """What a run changed: records, verdicts (against each claim's verdict just before the run,
    an editor's included) and new links."""
    rc = tables["record_changes"]
    rc = rc[rc["run_id"].eq(run_id)]
    titles = rows_of(tables, "records", rc["pmid"], ["pmid", "title"]).set_index("pmid")["title"]
    records = pd.DataFrame(
        {
            "PMID": rc["pmid"],
            "Study": rc["pmid"].map(titles).map(as_text),
            "What changed": rc["summary"].map(as_text),
        }
    ).reset_index(drop=True)
    v = tables["verdicts"].sort_values(["computed_at", "run_id"], kind="stable")
    rows = []
    mine = v[v["run_id"].eq(run_id)]
    if len(mine):
        start = mine["computed_at"].min()
        earlier = v[(v["computed_at"] < start) & ~v["run_id"].eq(run_id)]
        last = earlier.groupby("claim_id").tail(1).set_index("claim_id")
        for row in mine.itertuples(index=False):
            before = last.loc[row.claim_id] if row.claim_id in last.index else None
            if before is not None and (before["grade"], before["score"]) == (row.grade, row.score):
                continue
            rows.append(
                {
                    "Claim": row.claim_id,
                    "Before": "not graded before"
                    if before is None
                    else grade_text(before["grade"], before["score"]),
                    "After": grade_text(row.grade, row.score),
                }
            )
    verdicts = pd.DataFrame(rows, columns=["Claim", "Before", "After"])
    new_links = int(tables["links"]["first_linked_run"].eq(run_id).sum())
    return RunChanges(records, verdicts, new_links)


# --- editors' actions and verdict history ------------------------------------------------------


def _edit_verdicts(tables: Mapping[str, pd.DataFrame]) -> dict[tuple[str, pd.Timestamp], str]:
    """(claim_id, audit time) -> "before → after" for each edit that regraded its claim."""
    v = tables["verdicts"].sort_values(["computed_at", "run_id"], kind="stable")
    out = {}
    last: dict[str, Mapping[str, Any]] = {}
    for row in v.to_dict("records"):
        if is_edit(row["run_id"]):
            out[(row["claim_id"], row["computed_at"])] = _verdict_change(
                last.get(row["claim_id"]), row
            )
        last[row["claim_id"]] = row
    return out


def audit_log(tables: Mapping[str, pd.DataFrame], claim_id: str | None = None) -> pd.DataFrame:
    """Editors' actions, newest first: when, who, what (a sentence) and the verdict change."""
    a = tables["audit"]
    if claim_id is not None:
        a = a[a["claim_id"].eq(claim_id)]
    a = a.sort_values("at", ascending=False, kind="stable")
    regraded = _edit_verdicts(tables)
    rows = [
        {
            "When (UTC)": when(r["at"], long=True),
            "Who": as_text(r["actor"]),
            "What happened": describe_action(r, with_claim=claim_id is None),
            "Verdict": regraded.get((r["claim_id"], r["at"]), ""),
        }
        for r in a.to_dict("records")
    ]
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


def verdict_history(tables: Mapping[str, pd.DataFrame], claim_id: str) -> pd.DataFrame:
    """The claim's verdict over time, oldest first: each refresh or import that graded it (those
    that changed nothing for it left out) and each editor's action, who did it and why.

    Columns `HISTORY_COLUMNS` to show, plus ``at`` and ``score`` for a chart (an action from
    before edits were regraded has no score).
    """
    v = tables["verdicts"]
    v = v[v["claim_id"].eq(claim_id)].sort_values(["computed_at", "run_id"], kind="stable")
    audit = tables["audit"]
    audit = audit[audit["claim_id"].eq(claim_id)]
    runs = tables["runs"].set_index("run_id") if len(tables["runs"]) else None
    links = tables["links"]
    linked = links[links["claim_id"].eq(claim_id)]["first_linked_run"].value_counts()
    entries: list[dict[str, Any]] = []
    matched: set[int] = set()
    before: Mapping[str, Any] | None = None
    for row in v.to_dict("records"):
        change = _verdict_change(before, row)
        if is_edit(row["run_id"]):
            acts = audit[audit["at"].eq(row["computed_at"])]
            matched.update(acts.index)
            who = ", ".join(dict.fromkeys(acts["actor"].map(as_text))) or "an editor"
            what = "; ".join(describe_action(r, with_claim=False) for r in acts.to_dict("records"))
            entries.append(_entry(row["computed_at"], who, what or "edited", change, row["score"]))
        else:
            new = int(linked.get(row["run_id"], 0))
            if before is None or new or not change.endswith("unchanged"):
                kind = _run_kind(runs, row["run_id"])
                what = f"{kind} (run {row['run_id']})"
                if new:
                    what += f": {count(new, 'new study')} linked"
                who = "the import" if "import" in kind.lower() else "the refresh"
                entries.append(_entry(row["computed_at"], who, what, change, row["score"]))
        before = row
    for r in audit.drop(index=list(matched)).to_dict("records"):  # edits from before regrading
        entries.append(
            _entry(r["at"], as_text(r["actor"]), describe_action(r, with_claim=False), "", None)
        )
    out = pd.DataFrame(entries, columns=[*HISTORY_COLUMNS, "at", "score"])
    out = out.sort_values("at", kind="stable").reset_index(drop=True)
    out["score"] = out["score"].astype("Int64")
    return out


def _run_kind(runs: pd.DataFrame | None, run_id: str) -> str:
    mode = as_text(runs.at[run_id, "mode"]) if runs is not None and run_id in runs.index else ""
    return _KIND.get(mode, mode.capitalize() or "Refresh")


def _entry(at: Any, who: str, what: str, verdict: str, score: Any) -> dict[str, Any]:
    return {
        "When (UTC)": when(at, long=True),
        "Who": who,
        "What happened": what,
        "Verdict": verdict,
        "score": None if score is None or pd.isna(score) else int(score),
        "at": at,
    }

"""What a refresh should tell people, most urgent first: the alert digest.

Pure: built from the run's report (as a dict, so a report read back from JSON works too) and the
store's ``links``, ``verdicts`` and ``runs`` tables. Every item carries a stable key: the delivery
ledger (`evidence.alert_ledger`) remembers keys, so the same alert is never sent twice however
often the digest is rebuilt. Keys name the fact, not the run, where the fact persists (a
retraction, a suggested contradiction); they name the run where the fact is an event (a verdict
change, a failed run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from .labels import count
from .levels import Rubric
from .refresh import last_success

# Most urgent first; the order the issue asks for.
KINDS = (
    "retracted",
    "expression_of_concern",
    "erratum",
    "verdict_changed",
    "certainty_changed",
    "suggested_contradiction",
    "new_candidates",
    "run_failed",
    "run_partial",
    "no_recent_success",
    "test",
)
KIND_LABELS = {
    "retracted": "Retracted",
    "expression_of_concern": "Expression of concern",
    "erratum": "Erratum",
    "verdict_changed": "Verdict changed",
    "certainty_changed": "Certainty changed",
    "suggested_contradiction": "Suggested contradiction awaiting review",
    "new_candidates": "New candidate studies awaiting review",
    "run_failed": "Refresh failed",
    "run_partial": "Refresh incomplete",
    "no_recent_success": "No successful refresh",
    "test": "Test message",
}


@dataclass(frozen=True)
class AlertItem:
    key: str  # stable: the ledger's unit of "already sent"
    kind: str  # one of KINDS
    title: str  # one human line
    detail: str = ""  # why, in words
    claim_ids: tuple[str, ...] = ()
    pmids: tuple[str, ...] = ()
    before: str = ""
    after: str = ""
    run_id: str = ""

    @property
    def urgency(self) -> int:
        """0 is the most urgent."""
        return KINDS.index(self.kind)

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def separator(self) -> str:
        """Between label and title: "No successful refresh for 30 days" reads on."""
        return " " if self.kind == "no_recent_success" else ": "

    @property
    def headline(self) -> str:
        return f"{self.label}{self.separator}{self.title}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["claim_ids"], out["pmids"] = list(self.claim_ids), list(self.pmids)
        return {**out, "label": self.label, "headline": self.headline, "urgency": self.urgency}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertItem:
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in names}
        values["claim_ids"] = tuple(values.get("claim_ids", ()))
        values["pmids"] = tuple(values.get("pmids", ()))
        return cls(**values)


@dataclass(frozen=True)
class Digest:
    run_id: str
    run_status: str
    generated_at: str
    items: tuple[AlertItem, ...] = field(default_factory=tuple)

    def sorted(self) -> Digest:
        items = sorted(self.items, key=lambda i: (i.urgency, i.claim_ids, i.pmids, i.key))
        return Digest(self.run_id, self.run_status, self.generated_at, tuple(items))


def build_digest(
    report: Mapping[str, Any],
    *,
    links: pd.DataFrame | None = None,
    verdicts: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
    rubric: Rubric | None = None,
    now: pd.Timestamp,
    stale_days: float,
) -> Digest:
    """The digest of one run. Store tables may be None (a run that failed before the store
    could be read): the report's own items are still there."""
    run_id, status = str(report["run_id"]), str(report["status"])
    items = [*_notice_items(report.get("alerts", []))]
    if verdicts is not None and not verdicts.empty:
        items += verdict_items(verdicts, run_id, rubric)
    if links is not None and not links.empty:
        items += contradiction_items(links)
        items += candidate_items(links, run_id)
    items += _run_items(report, runs, now, stale_days)
    return Digest(run_id, status, now.isoformat(), tuple(items)).sorted()


def _notice_items(alerts: list[Mapping[str, Any]]) -> list[AlertItem]:
    out = []
    for alert in alerts:
        pmid, claims = str(alert["pmid"]), tuple(alert.get("claims", ()))
        title = alert.get("title") or ""
        cited = f"cited for {', '.join(claims)}"
        for kind in alert.get("kinds", ()):
            notices = tuple(alert.get("notices", ()))
            # An erratum's key names its errata: a second erratum is a second alert.
            errata = ",".join(alert.get("errata", ()))
            suffix = f":{errata}" if kind == "erratum" else ""
            out.append(
                AlertItem(
                    key=f"{kind}:{pmid}{suffix}",
                    kind=kind,
                    title=f"PMID {pmid}, {cited}",
                    detail=(f"“{title.rstrip('.')}”. " if title else "")
                    + (f"PubMed notice(s): PMID {', '.join(notices)}." if notices else ""),
                    claim_ids=claims,
                    pmids=(pmid,),
                )
            )
    return out


def _latest(verdicts: pd.DataFrame) -> pd.DataFrame:
    return verdicts.sort_values(["computed_at", "run_id"]).groupby("claim_id").last()


def verdict_items(
    verdicts: pd.DataFrame, run_id: str, rubric: Rubric | None = None
) -> list[AlertItem]:
    """Claims whose grade or certainty this run differs from their previous verdict."""
    now = verdicts[verdicts["run_id"].eq(run_id)]
    earlier = verdicts[~verdicts["run_id"].eq(run_id)]
    if now.empty or earlier.empty:
        return []
    old, new = _latest(earlier), _latest(now)
    out = []
    for claim_id, row in new.iterrows():
        if claim_id not in old.index:
            continue
        was = old.loc[claim_id]
        why = _why(was, row, rubric)
        if was["grade"] != row["grade"]:
            out.append(
                AlertItem(
                    key=f"verdict_changed:{claim_id}:{run_id}",
                    kind="verdict_changed",
                    title=f"{claim_id}: {was['grade']} -> {row['grade']}",
                    detail=why,
                    claim_ids=(str(claim_id),),
                    before=str(was["grade"]),
                    after=str(row["grade"]),
                    run_id=run_id,
                )
            )
        elif was["certainty"] != row["certainty"]:
            before, after = _cap(was["certainty"]), _cap(row["certainty"])
            out.append(
                AlertItem(
                    key=f"certainty_changed:{claim_id}:{run_id}",
                    kind="certainty_changed",
                    title=f"{claim_id}: certainty {before} -> {after} ({row['grade']})",
                    detail=why,
                    claim_ids=(str(claim_id),),
                    before=before,
                    after=after,
                    run_id=run_id,
                )
            )
    return out


def _cap(text: Any) -> str:
    text = str(text or "")
    return text[:1].upper() + text[1:]


_COUNTS = (
    ("n_supports", "supporting"),
    ("n_contradicts", "contradicting"),
    ("n_mixed", "mixed"),
    ("n_background", "background"),
)


def _why(was: pd.Series, now: pd.Series, rubric: Rubric | None) -> str:
    """The counted studies that moved, the certainty, and the rule the grade now rests on."""
    moved = [
        f"{label} studies {int(was[col])} -> {int(now[col])}"
        for col, label in _COUNTS
        if col in now.index and pd.notna(was[col]) and int(was[col]) != int(now[col])
    ]
    if was["certainty"] != now["certainty"]:
        moved.append(f"certainty {was['certainty']} -> {now['certainty']}")
    text = ("Counted " + "; ".join(moved) + ". ") if moved else ""
    if rubric is not None and now["rule"] in {r.id for r in rubric.rules}:
        text += f"Now “{now['grade']}”: {rubric.rule(now['rule']).description}"
    return text.strip()


def contradiction_items(links: pd.DataFrame) -> list[AlertItem]:
    """Machine-suggested contradictions a curator has not yet confirmed or dismissed."""
    waiting = links[links["stance"].eq("contradicts") & links["stance_origin"].eq("suggested")]
    return [
        AlertItem(
            key=f"suggested_contradiction:{row.claim_id}:{row.pmid}",
            kind="suggested_contradiction",
            title=f"{row.claim_id}: PMID {row.pmid} may contradict the claim",
            detail=_quoted("Suggested from", row.stance_evidence),
            claim_ids=(str(row.claim_id),),
            pmids=(str(row.pmid),),
        )
        for row in waiting.sort_values(["claim_id", "pmid"]).itertuples()
    ]


def _quoted(lead: str, text: Any) -> str:
    return f"{lead}: “{text}”" if isinstance(text, str) and text.strip() else ""


def candidate_items(links: pd.DataFrame, run_id: str) -> list[AlertItem]:
    """Per claim, the studies this run linked that no curator has assessed yet."""
    new = links[
        links["first_linked_run"].eq(run_id)
        & ~links["stance_origin"].eq("curator")
        & ~links["stance"].eq("irrelevant")
    ]
    out = []
    for claim_id, group in new.groupby("claim_id", sort=True):
        pmids = tuple(sorted(map(str, group["pmid"]), key=int))
        n = len(pmids)
        out.append(
            AlertItem(
                key=f"new_candidates:{claim_id}:{run_id}",
                kind="new_candidates",
                title=f"{claim_id}: {n} new candidate {'study' if n == 1 else 'studies'}",
                detail="Found by this refresh; not counted until a curator reviews them.",
                claim_ids=(str(claim_id),),
                pmids=pmids,
                run_id=run_id,
            )
        )
    return out


def _run_items(
    report: Mapping[str, Any], runs: pd.DataFrame | None, now: pd.Timestamp, stale_days: float
) -> list[AlertItem]:
    run_id, status = str(report["run_id"]), str(report["status"])
    out = []
    if status == "failed":
        out.append(
            AlertItem(
                key=f"run_failed:{run_id}",
                kind="run_failed",
                title=f"run {run_id}",
                detail=str(report.get("error") or ""),
                run_id=run_id,
            )
        )
    elif status == "partial":
        missing = list(report.get("missing_pmids", []))
        out.append(
            AlertItem(
                key=f"run_partial:{run_id}",
                kind="run_partial",
                title=f"run {run_id}",
                detail=(
                    f"PubMed did not return {count(len(missing), 'record')}; "
                    "the next run asks again."
                ),
                pmids=tuple(missing),
                run_id=run_id,
            )
        )
    if runs is not None and status != "success":
        last = last_success(runs)
        days = (now - last).total_seconds() / 86400 if last is not None else None
        if (days is None and not runs.empty) or (days is not None and days > stale_days):
            since = f"since {last:%Y-%m-%d}" if last is not None else "ever"
            out.append(
                AlertItem(
                    key=f"no_recent_success:{last.isoformat() if last is not None else 'never'}",
                    kind="no_recent_success",
                    title=f"for {days:.0f} days" if days is not None else "ever",
                    detail=f"The evidence has not been checked against PubMed {since}; "
                    f"the limit is {stale_days:g} days.",
                    run_id=run_id,
                )
            )
    return out


def notify_test_digest(now: pd.Timestamp) -> Digest:
    """What ``evidence notify --test`` sends: one clearly-labelled test item, never ledgered."""
    item = AlertItem(
        key=f"test:{now.isoformat()}",
        kind="test",
        title="sent by evidence notify --test",
        detail="Alerts are configured correctly for this channel. No action is needed.",
    )
    return Digest(run_id="test", run_status="test", generated_at=now.isoformat(), items=(item,))

"""The scheduled refresh: search, fetch what is new or due, fold it in, grade, report.

Slow work (HTTP, parsing) happens before the store lock is taken; the merge runs inside
`Store.update` on the latest snapshot, so a curator's edit made meanwhile survives. Any failure
(expected or not, including the run deadline) leaves the store exactly as it was and a report
marked failed with a one-line reason. A second refresh started while one runs stops at once (its
own lock file, separate from the store's short write lock).

Nobody watches this job, so it never reports more than it did: every PMID asked of PubMed is
either returned or named as missing (a failed run unless partial runs are allowed), re-checks go
to NCBI rather than the HTTP cache and are counted only when they got there, and only records
PubMed actually returned get a new ``last_checked``. A run that was not complete does not move
the next incremental window, so what it missed is searched and fetched again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout
from tqdm import tqdm

from .claims import Registry, claims_frame
from .errors import ConfigError, EvidenceError, OfflineMiss
from .labels import count
from .pipeline import (
    Batch,
    apply_batch,
    build_default_store,
    changed_rows,
    registry_for,
    run_row,
    stored_pmids,
)
from .pubmed import DeadlineExceeded, PubMed, SearchResult, redact
from .records import ParseStats, parse_pubmed_xml, records_frame
from .settings import Settings
from .store import Snapshot, Store

PUBMED_MODES = ("incremental", "full")


class RefreshBusy(EvidenceError):
    """Another refresh holds the refresh lock."""


class RefreshFailed(EvidenceError):
    """The run failed; its report (written, marked failed) says why and what it finished."""

    def __init__(self, report: RefreshReport) -> None:
        super().__init__(report.error)
        self.report = report


class IncompleteAnswer(EvidenceError):
    """PubMed did not return every PMID asked for (and partial runs are not allowed)."""


@dataclass(frozen=True)
class RefreshOptions:
    full: bool = False
    since: date | None = None
    claims: tuple[str, ...] = ()
    dry_run: bool = False
    allow_partial: bool = False  # commit what came back; missing PMIDs are named, not fatal


@dataclass
class QueryOutcome:
    name: str  # "topic:tms" or "claim:C03"
    term: str
    count: int = 0
    new_pmids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requests: int = 0  # esearch requests it took (Entrez-date windows past PubMed's cap)
    min_requests: int = 0


@dataclass
class RefreshReport:
    run_id: str
    started_at: str
    mode: str
    window: str
    status: str = "running"
    ended_at: str = ""
    duration_s: float = 0.0
    queries: list[QueryOutcome] = field(default_factory=list)
    fetched: int = 0
    new_records: int = 0
    updated_records: int = 0
    rechecked: int = 0  # linked records re-fetched from NCBI itself (never from the cache)
    recheck_due: int = 0
    recheck_requests: int = 0  # efetch requests of the re-check that NCBI itself answered
    recheck_note: str = ""
    missing_pmids: list[str] = field(default_factory=list)
    skipped_entries: int = 0
    problems: list[str] = field(default_factory=list)  # partial answers, shown first
    changes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # retraction/erratum/concern
    verdict_changes: list[dict[str, Any]] = field(default_factory=list)
    new_links: dict[str, int] = field(default_factory=dict)
    network_requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    offline_misses: list[str] = field(default_factory=list)
    error: str = ""
    alert_deliveries: list[dict[str, Any]] = field(default_factory=list)  # see evidence.notify

    @property
    def alert_failures(self) -> list[str]:
        return [d["text"] for d in self.alert_deliveries if d["error"]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = [
            f"# Refresh {self.run_id}: {self.status}",
            "",
            f"- mode: {self.mode}; Entrez-date window: {self.window}",
            f"- started {self.started_at}, took {self.duration_s:.1f} s",
            f"- network requests: {self.network_requests} "
            f"(cache hits {self.cache_hits}, retries {self.retries})",
            f"- records: {self.new_records} new, {self.updated_records} changed",
            f"- re-checks of linked records: {self.rechecked} of {self.recheck_due} due "
            f"answered by NCBI in {count(self.recheck_requests, 'request')}"
            + (f" ({self.recheck_note})" if self.recheck_note else ""),
        ]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        if self.problems or self.missing_pmids:
            lines += ["", "## Incomplete answers", ""]
            lines += [f"- {p}" for p in self.problems]
            if self.missing_pmids:
                lines.append(
                    f"- not returned by PubMed ({len(self.missing_pmids)}): "
                    + ", ".join(self.missing_pmids)
                )
        if self.offline_misses:
            lines += ["", "## Not in the offline cache", ""]
            lines += [f"- `{m}`" for m in self.offline_misses]
        lines += [
            "",
            "## Queries",
            "",
            "| query | hits | new | requests (minimum) |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {q.name} | {q.count} | {len(q.new_pmids)} | {q.requests} ({q.min_requests}) |"
            for q in self.queries
        ]
        notes = [f"- {q.name}: {w}" for q in self.queries for w in q.warnings]
        if notes:
            lines += ["", *notes]
        if self.new_links:
            lines += ["", "## New candidate evidence per claim", ""]
            lines += [f"- {c}: {n} new" for c, n in sorted(self.new_links.items())]
        lines += ["", "## Retractions, errata, expressions of concern (linked records)", ""]
        lines += [
            f"- PMID {a['pmid']} ({', '.join(a['claims'])}): {a['what']}" for a in self.alerts
        ]
        if not self.alerts:
            lines.append("- none")
        lines += ["", "## Verdict changes", ""]
        lines += [
            f"- {v['claim_id']}: {v['before']} -> {v['after']} (score {v['score']})"
            for v in self.verdict_changes
        ]
        if not self.verdict_changes:
            lines.append("- none")
        if self.alert_deliveries:
            lines += ["", "## Alerts delivered", ""]
            lines += [f"- {d['text']}" for d in self.alert_deliveries]
        if self.changes:
            lines += ["", "## Changed records", ""]
            lines += [f"- PMID {c['pmid']}: {c['summary']}" for c in self.changes]
        return "\n".join(lines) + "\n"


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("s")


def last_success(runs: pd.DataFrame) -> pd.Timestamp | None:
    """Start of the newest complete online PubMed run (curated imports, offline and partial runs
    do not count: a partial run left PMIDs behind, an offline one saw only old answers)."""
    ok = runs[runs["status"].eq("success") & runs["mode"].isin(PUBMED_MODES)]
    return None if ok.empty else ok["started_at"].max()


def plan_queries(registry: Registry, claim_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(name, term) for each topic query and claim query; ``claim_ids`` narrows to those claims."""
    chosen = set(claim_ids)
    unknown = chosen - registry.claim_ids
    if unknown:
        raise ConfigError(
            "claims",
            f"unknown claim id(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(registry.claim_ids))}",
        )
    plan = [] if chosen else [(f"topic:{k}", t.query) for k, t in registry.topics.items()]
    plan += [(f"claim:{c.id}", c.query) for c in registry.claims if not chosen or c.id in chosen]
    return plan


def due_for_check(snap: Snapshot, now: pd.Timestamp, max_age_days: float) -> list[str]:
    """Linked PMIDs never checked against PubMed, or checked longer ago than allowed."""
    linked = set(snap["links"].loc[~snap["links"]["stance"].eq("irrelevant"), "pmid"])
    records = snap.rows("records", linked, ["pmid", "last_checked"])
    stale = records["last_checked"].isna() | (
        records["last_checked"] < now - timedelta(days=max_age_days)
    )
    return sorted(records.loc[stale, "pmid"], key=int)


def _fetch(
    client: PubMed, pmids: list[str], stats: ParseStats, rows: list[dict], *, fresh: bool = False
) -> None:
    """Parse efetch answers into ``rows`` as they come, so a failed run can say how far it got."""
    bodies = client.efetch_ids(pmids, fresh=fresh)
    total = -(-len(pmids) // client.settings.batch_size)
    desc = "re-check" if fresh else "efetch"
    for body in tqdm(bodies, total=total, desc=desc, unit="batch", disable=None, leave=False):
        rows.extend(parse_pubmed_xml(body, stats=stats))


def _alerts(
    changes: pd.DataFrame, links: pd.DataFrame, records: pd.DataFrame, run_id: str
) -> list[dict[str, Any]]:
    """Retraction / erratum / concern changes this run, among records linked to a claim
    (``records`` holds at least the changed ones)."""
    changes = changes[changes["run_id"].eq(run_id)]
    records = records.set_index("pmid")
    out = []
    for row in changes.itertuples():
        flags = {"retracted", "errata", "expression_of_concern"} & set(row.fields)
        claims = sorted(set(links.loc[links["pmid"].eq(row.pmid), "claim_id"]))
        if not flags or not claims:
            continue
        rec = records.loc[row.pmid]
        what, kinds = [], []
        if "retracted" in flags and rec["retracted"]:
            what.append("RETRACTED")
            kinds.append("retracted")
        if "errata" in flags:
            what.append(f"erratum {', '.join(rec['errata'])}")
            kinds.append("erratum")
        if "expression_of_concern" in flags and rec["expression_of_concern"]:
            what.append("expression of concern")
            kinds.append("expression_of_concern")
        out.append(
            {
                "pmid": row.pmid,
                "claims": claims,
                "what": "; ".join(what) or row.summary,
                "kinds": kinds,  # for the alert digest
                "notices": sorted(
                    {*rec["retraction_notices"], *rec["errata"], *rec["concern_notices"]}
                ),
                "errata": sorted(rec["errata"]),
                "title": rec["title"] if isinstance(rec["title"], str) else "",
            }
        )
    return out


def _verdict_changes(before: pd.DataFrame, after: pd.DataFrame, run_id: str) -> list[dict]:
    new = after[after["run_id"].eq(run_id)].set_index("claim_id")
    if before.empty:
        return []
    old = before.sort_values("computed_at").groupby("claim_id").last()
    out = []
    for claim_id, row in new.iterrows():
        if claim_id in old.index and old.at[claim_id, "grade"] != row["grade"]:
            out.append(
                {
                    "claim_id": claim_id,
                    "before": old.at[claim_id, "grade"],
                    "after": row["grade"],
                    "score": int(row["score"]),
                }
            )
    return out


def run_refresh(
    settings: Settings,
    options: RefreshOptions = RefreshOptions(),
    *,
    client: PubMed | None = None,
    now: pd.Timestamp | None = None,
) -> RefreshReport:
    """One refresh. Raises `RefreshBusy`, `ConfigError` (before anything runs) or
    `RefreshFailed` (the report, marked failed, is written first)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "refresh.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RefreshBusy(
            f"another refresh is running (lock {settings.data_dir / 'refresh.lock'}); not starting"
        ) from None
    try:
        return _run_locked(settings, options, client, now)
    finally:
        lock.release()


def _run_locked(
    settings: Settings, options: RefreshOptions, client: PubMed | None, now: pd.Timestamp | None
) -> RefreshReport:
    clock = time.monotonic()
    started = now or _now()
    registry = registry_for(settings.data_dir)
    plan = plan_queries(registry, options.claims)
    mode = "full" if options.full else "incremental"
    report = RefreshReport(
        run_id=started.strftime("%Y%m%dT%H%M%SZ"),
        started_at=started.isoformat(),
        mode=mode
        + (" (offline)" if settings.offline else "")
        + (" dry-run" if options.dry_run else ""),
        window="everything",
    )
    deadline = clock + settings.run_deadline_minutes * 60
    client = client or PubMed(settings, deadline=deadline)
    progress = _Progress(len(plan))
    cause: BaseException | None = None
    try:
        if not (settings.store_dir / "manifest.json").exists():
            build_default_store(settings.data_dir, settings.store_dir)
        store = Store.open(settings.store_dir)
        snap = store.snapshot()
        since = options.since
        if since is None and not options.full:
            previous = last_success(snap["runs"])
            since = previous.date() if previous is not None else None
        report.window = f"{since:%Y/%m/%d} to today" if since else "everything"
        report.run_id = unique_run_id(started, set(snap["runs"]["run_id"]), settings)
        _collect_and_commit(
            settings,
            options,
            store,
            snap,
            registry,
            plan,
            since,
            client,
            report,
            progress,
            deadline,
        )
        if options.dry_run:
            report.status = "dry-run"
        else:
            report.status = "partial" if report.missing_pmids else "success"
    except DeadlineExceeded as exc:
        cause = exc
        report.status = "failed"
        report.error = (
            f"stopped at the run deadline ({settings.run_deadline_minutes:g} min) after "
            f"{progress.describe()}; nothing was stored, the next run starts from the last "
            "complete one"
        )
    except (KeyboardInterrupt, SystemExit):
        report.status, report.error = "failed", f"interrupted after {progress.describe()}"
        _finish(settings, report, client, clock, started, alerts=False)
        raise
    except EvidenceError as exc:
        cause = exc
        report.status, report.error = "failed", _one_line(str(exc))
    except Exception as exc:  # disk full, a bug: still a failed run with a report, not a trace
        cause = exc
        report.status = "failed"
        report.error = _one_line(f"unexpected {type(exc).__name__}: {exc}")
    _finish(settings, report, client, clock, started)
    if report.status == "failed":
        raise RefreshFailed(report) from cause
    return report


@dataclass
class _Progress:
    """How far a run got, for the report of a run that stopped early."""

    queries_planned: int
    queries_done: int = 0
    pmids_planned: int = 0
    pmids_returned: int = 0

    def describe(self) -> str:
        text = f"searching {self.queries_done} of {self.queries_planned} queries"
        if self.pmids_planned:
            text += f" and fetching {self.pmids_returned} of {self.pmids_planned} records"
        return text


def unique_run_id(started: pd.Timestamp, taken: set[str], settings: Settings) -> str:
    """The start second as an id; a quick re-run within that second takes the next free one,
    so two runs never share records' changes and ids still sort in start order."""
    at = started
    while True:
        run_id = at.strftime("%Y%m%dT%H%M%SZ")
        if run_id not in taken and not report_path(settings.data_dir, run_id, "json").exists():
            return run_id
        at += pd.Timedelta(seconds=1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _finish(
    settings: Settings,
    report: RefreshReport,
    client: PubMed,
    clock: float,
    started: pd.Timestamp,
    *,
    alerts: bool = True,
) -> None:
    stats = client.stats
    report.network_requests, report.cache_hits = stats.network, stats.cache_hits
    report.retries, report.offline_misses = stats.retries, list(stats.offline_misses)
    report.duration_s = time.monotonic() - clock
    report.ended_at = (started + pd.Timedelta(seconds=report.duration_s)).isoformat()
    report.error = redact(report.error, settings)
    if alerts and report.status != "dry-run":
        from .notify import notify_after_run  # after the store is settled; never raises

        report.alert_deliveries = notify_after_run(settings, asdict(report))
    try:
        write_report(settings, report)
    except OSError as exc:  # e.g. the disk is full: say so where cron mails it
        report.error = _one_line(f"{report.error}; the report could not be written: {exc}")


def _collect_and_commit(
    settings: Settings,
    options: RefreshOptions,
    store: Store,
    snap: Snapshot,
    registry: Registry,
    plan: list[tuple[str, str]],
    since: date | None,
    client: PubMed,
    report: RefreshReport,
    progress: _Progress,
    deadline: float,
) -> None:
    hits: dict[str, set[str]] = {}
    found: list[tuple[str, str, SearchResult]] = []
    misses = 0
    for name, term in tqdm(plan, desc="esearch", unit="query", disable=None, leave=False):
        try:
            result = client.search_ids(term, mindate=since) if since else client.search_ids(term)
        except OfflineMiss:
            misses += 1  # keep going, so the report names every miss
            continue
        progress.queries_done += 1
        hits[name] = set(result.ids)
        found.append((name, term, result))
    if misses:
        raise OfflineMiss(f"{misses} request(s)", "offline mode: not in the cache (see report)")
    known = stored_pmids(snap, set().union(*hits.values()))  # reads only the hits' ranges
    for name, term, result in found:
        new = [p for p in result.ids if p not in known]
        report.queries.append(
            QueryOutcome(
                name, term, result.count, new, result.warnings, result.requests, result.min_requests
            )
        )

    new_pmids = sorted({p for q in report.queries for p in q.new_pmids}, key=int)
    fresh = set(new_pmids)
    due = due_for_check(snap, pd.Timestamp.now(tz="UTC"), settings.recheck_days)
    recheck = [p for p in due if p not in fresh]
    report.recheck_due = len(recheck)
    if recheck and settings.offline:
        report.recheck_note = "offline: re-checks need NCBI, none were made"
        recheck = []
    parse_stats = ParseStats()
    rows: list[dict] = []
    progress.pmids_planned = len(new_pmids) + len(recheck)
    if new_pmids:
        _fetch(client, new_pmids, parse_stats, rows)
    progress.pmids_returned = len(rows)
    if recheck:
        before = client.stats.fresh_network
        _fetch(client, recheck, parse_stats, rows, fresh=True)
        report.recheck_requests = client.stats.fresh_network - before
    progress.pmids_returned = len(rows)
    fetched = records_frame(rows)
    returned = set(fetched["pmid"])
    report.fetched = len(fetched)
    report.rechecked = len(returned.intersection(recheck))
    report.skipped_entries = parse_stats.skipped
    report.problems.extend(parse_stats.problems)
    report.missing_pmids = sorted(set(new_pmids).union(recheck) - returned, key=int)
    if report.missing_pmids and not options.allow_partial:
        n, asked = len(report.missing_pmids), progress.pmids_planned
        raise IncompleteAnswer(
            f"PubMed did not return {n} of {asked} requested PMIDs "
            f"({', '.join(report.missing_pmids[:5])}{', ...' if n > 5 else ''}); nothing was "
            "stored (use --allow-partial to keep what came back)"
        )
    if time.monotonic() > deadline:
        raise DeadlineExceeded("refresh", "run deadline reached before the commit")

    batch = Batch(
        records=fetched,
        checked=returned,
        claims=claims_frame(registry),
        topic_queries={k: t.query for k, t in registry.topics.items()},
        registry=registry,
        full_hits={n.split(":", 1)[1]: h for n, h in hits.items() if n.startswith("claim:")}
        if options.full
        else {},
    )
    now = _now()
    status = "partial" if report.missing_pmids else "success"

    def change(latest: Snapshot) -> dict[str, pd.DataFrame]:
        frames = apply_batch(latest, batch, report.run_id, now)
        before_links = latest["links"]
        old_keys = set(zip(before_links["claim_id"], before_links["pmid"], strict=True))
        links = frames["links"]
        added = [
            c
            for c, p in zip(links["claim_id"], links["pmid"], strict=True)
            if (c, p) not in old_keys
        ]
        report.new_links = {c: added.count(c) for c in sorted(set(added))}
        changes = changed_rows(frames, "record_changes")
        this_run = changes[changes["run_id"].eq(report.run_id)]
        report.changes = [
            {"pmid": r.pmid, "fields": list(r.fields), "summary": r.summary}
            for r in this_run.itertuples()
        ]
        records = changed_rows(frames, "records")
        pmids = set(records["pmid"])
        report.new_records = len(pmids - stored_pmids(latest, pmids))
        report.updated_records = len(this_run)
        report.alerts = _alerts(this_run, links, records, report.run_id)
        report.verdict_changes = _verdict_changes(
            latest["verdicts"], frames["verdicts"], report.run_id
        )
        retracted = sum(1 for a in report.alerts if "RETRACTED" in a["what"])
        row = run_row(
            report.run_id,
            pd.Timestamp(report.started_at),
            _now(),
            status=status,
            mode=report.mode,
            queries=[n for n, _ in plan],
            network_requests=client.stats.network,
            cache_hits=client.stats.cache_hits,
            new_records=report.new_records,
            updated_records=report.updated_records,
            retracted_records=retracted,
            error=f"{len(report.missing_pmids)} PMIDs not returned" if report.missing_pmids else "",
            report_path=str(report_path(settings.data_dir, report.run_id, "md")),
        )
        frames["runs"] = pd.concat([latest["runs"], row], ignore_index=True)
        return {} if options.dry_run else frames

    store.update(change, actor=f"refresh {report.run_id}")


def report_path(data_dir: Path, run_id: str, suffix: str) -> Path:
    return data_dir / "reports" / f"refresh-{run_id}.{suffix}"


def write_report(settings: Settings, report: RefreshReport) -> None:
    """Markdown for people, JSON for machines; atomic, secrets redacted, no .tmp left behind."""
    for suffix, text in (("md", report.to_markdown()), ("json", report.to_json())):
        path = report_path(settings.data_dir, report.run_id, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{suffix}.tmp")
        try:
            tmp.write_text(redact(text, settings), encoding="utf-8")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

"""The scheduled refresh: search, fetch what is new or due, fold it in, grade, report.

Slow work (HTTP, parsing) happens before the store lock is taken; the merge runs inside
`Store.update` on the latest snapshot, so a curator's edit made meanwhile survives. Any failure
before the commit leaves the store exactly as it was. A second refresh started while one runs
stops at once (its own lock file, separate from the store's short write lock).
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
from .pipeline import Batch, apply_batch, build_default_store, registry_for, run_row
from .pubmed import PubMed
from .records import ParseStats, parse_pubmed_xml, records_frame
from .settings import Settings
from .store import Snapshot, Store

PUBMED_MODES = ("incremental", "full")


class RefreshBusy(EvidenceError):
    """Another refresh holds the refresh lock."""


@dataclass(frozen=True)
class RefreshOptions:
    full: bool = False
    since: date | None = None
    claims: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass
class QueryOutcome:
    name: str  # "topic:tms" or "claim:C03"
    term: str
    count: int = 0
    new_pmids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
    rechecked: int = 0
    skipped_entries: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # retraction/erratum/concern
    verdict_changes: list[dict[str, Any]] = field(default_factory=list)
    new_links: dict[str, int] = field(default_factory=dict)
    network_requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    offline_misses: list[str] = field(default_factory=list)
    error: str = ""

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
            f"- records: {self.new_records} new, {self.updated_records} changed, "
            f"{self.rechecked} re-checked",
        ]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        if self.offline_misses:
            lines += ["", "## Not in the offline cache", ""]
            lines += [f"- `{m}`" for m in self.offline_misses]
        lines += ["", "## Queries", "", "| query | hits | new |", "| --- | ---: | ---: |"]
        lines += [f"| {q.name} | {q.count} | {len(q.new_pmids)} |" for q in self.queries]
        cut = [f"- {q.name}: {w}" for q in self.queries for w in q.warnings if "truncated" in w]
        if cut:
            lines += ["", *cut]
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
        if self.changes:
            lines += ["", "## Changed records", ""]
            lines += [f"- PMID {c['pmid']}: {c['summary']}" for c in self.changes]
        return "\n".join(lines) + "\n"


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("s")


def last_success(runs: pd.DataFrame) -> pd.Timestamp | None:
    """Start of the newest successful PubMed run (curated imports do not count)."""
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
    records = snap["records"]
    records = records[records["pmid"].isin(linked)]
    stale = records["last_checked"].isna() | (
        records["last_checked"] < now - timedelta(days=max_age_days)
    )
    return sorted(records.loc[stale, "pmid"], key=int)


def _fetch(client: PubMed, pmids: list[str], stats: ParseStats) -> pd.DataFrame:
    rows = []
    bodies = client.efetch_ids(pmids)
    total = -(-len(pmids) // client.settings.batch_size)
    for body in tqdm(bodies, total=total, desc="efetch", unit="batch", disable=None, leave=False):
        rows.extend(parse_pubmed_xml(body, stats=stats))
    return records_frame(rows)


def _alerts(frames: dict[str, pd.DataFrame], run_id: str) -> list[dict[str, Any]]:
    """Retraction / erratum / concern changes this run, among records linked to a claim."""
    changes = frames["record_changes"]
    changes = changes[changes["run_id"].eq(run_id)]
    links = frames["links"]
    records = frames["records"].set_index("pmid")
    out = []
    for row in changes.itertuples():
        flags = {"retracted", "errata", "expression_of_concern"} & set(row.fields)
        claims = sorted(set(links.loc[links["pmid"].eq(row.pmid), "claim_id"]))
        if not flags or not claims:
            continue
        rec = records.loc[row.pmid]
        what = []
        if "retracted" in flags and rec["retracted"]:
            what.append("RETRACTED")
        if "errata" in flags:
            what.append(f"erratum {', '.join(rec['errata'])}")
        if "expression_of_concern" in flags and rec["expression_of_concern"]:
            what.append("expression of concern")
        out.append({"pmid": row.pmid, "claims": claims, "what": "; ".join(what) or row.summary})
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
    """One refresh. Raises `RefreshBusy` / `EvidenceError`; the report is written either way."""
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
    if not (settings.store_dir / "manifest.json").exists():
        build_default_store(settings.data_dir, settings.store_dir)
    store = Store.open(settings.store_dir)
    snap = store.snapshot()
    mode = "full" if options.full else "incremental"
    since = options.since
    if since is None and not options.full:
        previous = last_success(snap["runs"])
        since = previous.date() if previous is not None else None
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    report = RefreshReport(
        run_id=run_id,
        started_at=started.isoformat(),
        mode=mode
        + (" (offline)" if settings.offline else "")
        + (" dry-run" if options.dry_run else ""),
        window=f"{since:%Y/%m/%d} to today" if since else "everything",
    )
    client = client or PubMed(settings)
    try:
        _collect_and_commit(settings, options, store, snap, registry, plan, since, client, report)
        report.status = "dry-run" if options.dry_run else "success"
    except EvidenceError as exc:
        report.status, report.error = "failed", str(exc)
        raise
    finally:
        stats = client.stats
        report.network_requests, report.cache_hits = stats.network, stats.cache_hits
        report.retries, report.offline_misses = stats.retries, list(stats.offline_misses)
        report.duration_s = time.monotonic() - clock
        report.ended_at = (started + pd.Timedelta(seconds=report.duration_s)).isoformat()
        write_report(settings.data_dir, report)
    return report


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
) -> None:
    known = set(snap["records"]["pmid"])
    hits: dict[str, set[str]] = {}
    misses = 0
    for name, term in tqdm(plan, desc="esearch", unit="query", disable=None, leave=False):
        try:
            result = client.search_ids(term, mindate=since) if since else client.search_ids(term)
        except OfflineMiss:
            misses += 1  # keep going, so the report names every miss
            continue
        hits[name] = set(result.ids)
        new = [p for p in result.ids if p not in known]
        report.queries.append(QueryOutcome(name, term, result.count, new, result.warnings))
    if misses:
        raise OfflineMiss(f"{misses} request(s)", "offline mode: not in the cache (see report)")

    new_pmids = sorted({p for q in report.queries for p in q.new_pmids}, key=int)
    fresh = set(new_pmids)
    due = due_for_check(snap, pd.Timestamp.now(tz="UTC"), settings.recheck_days)
    recheck = [p for p in due if p not in fresh]
    parse_stats = ParseStats()
    fetched = _fetch(client, new_pmids + recheck, parse_stats) if new_pmids or recheck else None
    report.fetched = 0 if fetched is None else len(fetched)
    report.rechecked = len(recheck)
    report.skipped_entries = parse_stats.skipped

    batch = Batch(
        records=fetched if fetched is not None else pd.DataFrame(),
        checked=set(new_pmids) | set(recheck),
        claims=claims_frame(registry),
        topic_queries={k: t.query for k, t in registry.topics.items()},
        full_hits={n.split(":", 1)[1]: h for n, h in hits.items() if n.startswith("claim:")}
        if options.full
        else {},
    )
    now = _now()

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
        changes = frames["record_changes"]
        this_run = changes[changes["run_id"].eq(report.run_id)]
        report.changes = [
            {"pmid": r.pmid, "fields": list(r.fields), "summary": r.summary}
            for r in this_run.itertuples()
        ]
        report.new_records = len(set(frames["records"]["pmid"]) - set(latest["records"]["pmid"]))
        report.updated_records = len(this_run)
        report.alerts = _alerts(frames, report.run_id)
        report.verdict_changes = _verdict_changes(
            latest["verdicts"], frames["verdicts"], report.run_id
        )
        retracted = sum(1 for a in report.alerts if "RETRACTED" in a["what"])
        row = run_row(
            report.run_id,
            pd.Timestamp(report.started_at),
            _now(),
            mode=report.mode,
            queries=[n for n, _ in plan],
            network_requests=client.stats.network,
            cache_hits=client.stats.cache_hits,
            new_records=report.new_records,
            updated_records=report.updated_records,
            retracted_records=retracted,
            report_path=str(report_path(settings.data_dir, report.run_id, "md")),
        )
        frames["runs"] = pd.concat([latest["runs"], row], ignore_index=True)
        return {} if options.dry_run else frames

    store.update(change, actor=f"refresh {report.run_id}")


def report_path(data_dir: Path, run_id: str, suffix: str) -> Path:
    return data_dir / "reports" / f"refresh-{run_id}.{suffix}"


def write_report(data_dir: Path, report: RefreshReport) -> None:
    """Markdown for people, JSON for machines; written atomically beside the store."""
    for suffix, text in (("md", report.to_markdown()), ("json", report.to_json())):
        path = report_path(data_dir, report.run_id, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{suffix}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

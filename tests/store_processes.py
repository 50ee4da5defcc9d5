"""Real separate processes for store tests and the soak benchmark.

``python -m tests.store_processes crash-writer STORE --rows N`` commits generation-marked tables
in a loop until killed, printing ``ready`` once and ``committed V`` after each commit.
``slow-refresh`` and ``curate`` play a refresh and a curator racing on the same store.

Every commit of the crash writer stamps generation ``gen-V`` (V = the version it commits) into
four tables, so a reader can tell whether what it sees is one whole version (`check_generation`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evidence.errors import StoreError
from evidence.schema import RECORD_CHANGES, RUNS
from evidence.store import Snapshot, Store, replace_rows, upsert_links, upsert_records
from tests import store_synthetic as syn

REPO = Path(__file__).resolve().parent.parent
CLAIM = "C-crash"
CHANGED_PER_COMMIT = 10


@functools.cache
def _base_records(rows: int) -> pd.DataFrame:
    # Varied abstracts so table files are not trivially compressible and writes take real time.
    rng = random.Random(rows)
    words = [f"synthetic{k}" for k in range(2000)]
    return syn.records(
        syn.record(n, abstract=" ".join(rng.choices(words, k=120))) for n in range(rows)
    )


def _incoming(rows: int, generation: int) -> pd.DataFrame:
    """`rows` base records (a rolling window of them revised) plus one extra per generation."""
    df = _base_records(rows).copy()
    if generation > 2:
        window = [(generation * CHANGED_PER_COMMIT + k) % rows for k in range(CHANGED_PER_COMMIT)]
        df.loc[window, "title"] = [f"SYNTHETIC test record {n} (rev {generation})" for n in window]
        df.loc[window, "content_hash"] = [f"synthetic-{n}-{generation}" for n in window]
    extra = syn.records(syn.record(rows + g) for g in range(2, generation + 1))
    return pd.concat([df, extra], ignore_index=True)


def crash_step(store: Store, rows: int) -> int:
    """One generation-marked commit touching records, record_changes, links and runs."""

    def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
        generation = snap.version + 1
        run_id = f"gen-{generation}"
        at = pd.Timestamp.now(tz="UTC").floor("us")
        records, changes = upsert_records(snap["records"], _incoming(rows, generation), run_id, at)
        links = syn.links(
            syn.link(CLAIM, n, stance="supports", stance_origin="suggested", updated_at=at)
            | {"updated_by": run_id}
            for n in range(0, rows, 10)
        )
        return {
            "records": records,
            "record_changes": replace_rows(snap["record_changes"], changes, RECORD_CHANGES),
            "links": upsert_links(snap["links"], links),
            "runs": replace_rows(snap["runs"], syn.run(run_id, at), RUNS),
        }

    return store.update(change, actor="crash-writer")


def check_generation(snap: Snapshot, rows: int) -> list[str]:
    """Problems showing the snapshot is not exactly one crash-writer version (empty = fine)."""
    v = snap.version
    gen = f"gen-{v}"
    records, links = snap["records"], snap["links"]
    problems = []
    if records["pmid"].duplicated().any():
        problems.append(f"duplicate PMIDs: {records.loc[records['pmid'].duplicated(), 'pmid'][:3]}")
    if set(records["last_seen_run"]) != {gen}:
        problems.append(f"records carry {sorted(set(records['last_seen_run']))}, expected {gen}")
    if len(records) != rows + v - 1:
        problems.append(f"{len(records)} records, expected {rows + v - 1}")
    if set(links["updated_by"]) != {gen}:
        problems.append(f"links carry {sorted(set(links['updated_by']))}, expected {gen}")
    expected_runs = {f"gen-{g}" for g in range(2, v + 1)}
    if set(snap["runs"]["run_id"]) != expected_runs or len(snap["runs"]) != v - 1:
        problems.append(f"runs {sorted(snap['runs']['run_id'])[-3:]}..., expected up to {gen}")
    changed_runs = set(snap["record_changes"]["run_id"])
    if changed_runs != {f"gen-{g}" for g in range(3, v + 1)}:
        problems.append(f"record_changes runs end at {max(changed_runs, default=None)}, not {gen}")
    return problems


@dataclass
class KillOutcome:
    """What one SIGKILL of the crash writer left behind."""

    delay: float
    reported: int  # last version the writer reported committed (or the version before it ran)
    commits: int  # commits it reported before dying
    leftovers: dict[str, int]
    version: int | None = None  # None: the store did not open
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.version is None:
            return "failed to open"
        if self.problems:
            return "mixed"
        if self.version == self.reported:
            return "old"
        if self.version == self.reported + 1:
            return "new"
        return f"unexpected version {self.version} after {self.reported}"


def leftover_files(root: Path) -> dict[str, set[str]]:
    """Files a killed commit left: temp files, files of an uncommitted version, stale files."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    keep = {*manifest["tables"].values(), *manifest.get("previous", {}).values()}
    for rel in list(keep):  # a partitioned table's index lists its ranges' files
        if rel.endswith(".json"):
            keep |= set(json.loads((root / rel).read_text(encoding="utf-8"))["files"].values())
    found: dict[str, set[str]] = {"temp": set(), "uncommitted": set(), "stale": set()}
    for path in [*(root / "tables").iterdir(), *root.glob(".*.tmp")]:
        rel = path.relative_to(root).as_posix()
        if path.name.endswith(".tmp"):
            found["temp"].add(rel)
        elif rel not in keep:
            version = int(path.stem.rsplit("-", 1)[1])
            found["uncommitted" if version > manifest["version"] else "stale"].add(rel)
    return found


def kill_once(root: Path, rows: int, delay: float) -> KillOutcome:
    """Start a crash writer on `root`, SIGKILL it `delay` s after it is ready, then check."""
    before = json.loads((root / "manifest.json").read_text(encoding="utf-8"))["version"]
    earlier = leftover_files(root)  # a previous kill's leftovers stay until the next commit
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store_processes", "crash-writer", str(root)]
        + ["--rows", str(rows)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"crash writer did not start: {err}")
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    reported = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")]
    outcome = KillOutcome(
        delay=delay,
        reported=reported[-1] if reported else before,
        commits=len(reported),
        leftovers={k: len(v - earlier[k]) for k, v in leftover_files(root).items()},
    )
    try:
        snap = Store.open(root).snapshot()
    except StoreError as e:
        outcome.error = str(e)
        return outcome
    outcome.version = snap.version
    outcome.problems = check_generation(snap, rows)
    return outcome


def _crash_writer(args: argparse.Namespace) -> None:
    store = Store.open(args.store)
    _base_records(args.rows)  # warm up, so kills after "ready" land among commits
    print("ready", flush=True)
    while True:
        print(f"committed {crash_step(store, args.rows)}", flush=True)


def _slow_refresh(args: argparse.Namespace) -> None:
    """Compute outside the lock, signal, sleep (the curator edits meanwhile), then merge."""
    store = Store.open(args.store)
    run_id = "run-slow"
    incoming = syn.records([syn.record(n, revision=1) for n in range(4)])
    found = syn.links(
        syn.link("C1", n, stance="supports", stance_origin="suggested", updated_by=run_id)
        | {"updated_at": pd.Timestamp.now(tz="UTC").floor("us"), "first_linked_run": run_id}
        for n in range(4)
    )
    Path(args.signal).write_text("computed", encoding="utf-8")
    time.sleep(args.sleep)

    def merge(snap: Snapshot) -> dict[str, Any]:
        records, changes = upsert_records(
            snap["records"], incoming, run_id, pd.Timestamp.now(tz="UTC")
        )
        return {
            "records": records,
            "record_changes": replace_rows(snap["record_changes"], changes, RECORD_CHANGES),
            "links": upsert_links(snap["links"], found),
        }

    print(f"committed {store.update(merge, actor='refresh')}", flush=True)


def _curate(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + 30
    while not Path(args.signal).exists():
        if time.monotonic() > deadline:
            sys.exit("the refresh never signalled")
        time.sleep(0.01)
    store = Store.open(args.store)
    version = store.curate(args.actor, "C1", syn.pmid(0), stance="contradicts", note=args.note)
    print(f"committed {version}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.store_processes")
    sub = parser.add_subparsers(dest="command", required=True)
    writer = sub.add_parser("crash-writer")
    writer.add_argument("store")
    writer.add_argument("--rows", type=int, default=5000)
    writer.set_defaults(run=_crash_writer)
    slow = sub.add_parser("slow-refresh")
    slow.add_argument("store")
    slow.add_argument("signal")
    slow.add_argument("--sleep", type=float, default=1.5)
    slow.set_defaults(run=_slow_refresh)
    curate = sub.add_parser("curate")
    curate.add_argument("store")
    curate.add_argument("signal")
    curate.add_argument("--actor", default="synthetic-curator")
    curate.add_argument("--note", default="SYNTHETIC curator note")
    curate.set_defaults(run=_curate)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()

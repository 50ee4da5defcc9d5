"""Store throughput with a large records table (synthetic rows, written to a temp directory).

Usage: python benchmarks/store_records.py [--rows 100000] [--changed 100]

Prints the time to upsert and commit `rows` new records, to open and read them back, and to
apply an incremental refresh (every PMID seen again, `changed` of them revised) as one commit.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.schema import RECORD_CHANGES, RECORD_FIELDS, RECORDS  # noqa: E402
from evidence.store import Store, replace_rows, upsert_records  # noqa: E402
from tests import store_synthetic as syn  # noqa: E402


def _timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label:44s} {time.perf_counter() - t:6.2f} s")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=100)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    words = [f"synthetic{k}" for k in range(5000)]
    incoming = syn.records(
        syn.record(n, abstract=" ".join(rng.choices(words, k=150))) for n in range(args.rows)
    )
    print(f"store_records: {args.rows} synthetic records, {args.changed} revised in the refresh")
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        store = Store.create(Path(tmp) / "store")

        def first(snap):
            records, _ = upsert_records(snap["records"], incoming, "run-1", "2024-01-01")
            return {"records": records}

        _timed("upsert + commit (all new)", lambda: store.update(first, actor="bench"))
        tables = Path(tmp) / "store" / "tables"
        size = sum(p.stat().st_size for p in tables.glob("records-p*-2.parquet"))
        print(f"  {'records files size (all ranges)':44s} {size / 1e6:6.1f} MB")
        records = _timed("open + read records", lambda: Store.open(store.root).read("records"))
        assert len(records) == args.rows

        revised = incoming.copy()
        idx = rng.sample(range(args.rows), args.changed)
        revised.loc[idx, "retracted"] = True
        revised.loc[idx, "content_hash"] = [f"revised-{i}" for i in idx]

        def refresh(snap):
            records, changes = upsert_records(snap["records"], revised, "run-2", "2024-02-01")
            return {
                "records": records,
                "record_changes": replace_rows(snap["record_changes"], changes, RECORD_CHANGES),
            }

        snap = store.snapshot()
        _timed(
            "upsert only (pure merge, table in memory)",
            lambda: upsert_records(
                snap["records"], revised[list(RECORD_FIELDS.names)], "run-2", "2024-02-01"
            ),
        )
        _timed(
            "refresh commit (read + upsert + write)", lambda: store.update(refresh, actor="bench")
        )
        _timed(
            "small commit (claims only, records untouched)",
            lambda: store.update(lambda s: {"claims": syn.claims("C1")}, actor="bench"),
        )
        changes = store.read("record_changes")
        assert len(changes) == args.changed and len(store.read("records")) == args.rows
        assert RECORDS.columns == list(store.read("records").columns)


if __name__ == "__main__":
    main()

"""Soak test of store crash safety: SIGKILL a committing writer process 100+ times.

Usage: python benchmarks/soak_kill.py [--iterations 100] [--rows 5000] [--max-delay 1.5]

Each iteration starts a writer (``tests.store_processes crash-writer``) that commits
generation-marked tables in a loop, kills it with SIGKILL after a random delay, then opens the
store and checks it holds exactly the last reported version ("old") or the one in flight ("new").
"mixed" and "failed to open" must be 0; the exit status is 1 otherwise. Leftover files show
where the kills landed (during a table write, before the manifest switch, before clean-up).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.store import Store  # noqa: E402
from tests.store_processes import crash_step, kill_once  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rows", type=int, default=5000, help="records per commit")
    parser.add_argument("--max-delay", type=float, default=1.5, help="seconds after ready")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)

    states: Counter[str] = Counter()
    landed: Counter[str] = Counter()
    commits = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="soak-kill-") as tmp:
        root = Path(tmp) / "store"
        crash_step(Store.create(root), args.rows)
        t = time.perf_counter()
        crash_step(Store.open(root), args.rows)
        commit_s = time.perf_counter() - t
        for i in range(args.iterations):
            outcome = kill_once(root, args.rows, rng.uniform(0, args.max_delay))
            states[outcome.state] += 1
            commits += outcome.commits
            left = outcome.leftovers
            if left["temp"]:
                landed["during a file write (temp files left)"] += 1
            elif left["uncommitted"]:
                landed["after table writes, before manifest switch"] += 1
            elif left["stale"]:
                landed["after manifest switch, before clean-up"] += 1
            else:
                landed["outside the file-writing window"] += 1
            if outcome.state not in ("old", "new"):
                print(f"iteration {i}: {outcome}", file=sys.stderr)
        final_version = Store.open(root).version
    elapsed = time.perf_counter() - started

    opened = args.iterations - states["failed to open"]
    print(f"soak_kill: {args.iterations} SIGKILLs, {args.rows} records/commit, seed {seed}")
    print(f"  one commit (in-process)     {commit_s * 1000:.0f} ms")
    print(f"  writer commits completed    {commits} (final store version {final_version})")
    print(f"  store opened OK             {opened}/{args.iterations}")
    print(f"  old state (in-flight lost)  {states['old']}")
    print(f"  new state (in-flight kept)  {states['new']}")
    print(f"  mixed (must be 0)           {states['mixed']}")
    other = {k: v for k, v in states.items() if k not in ("old", "new", "mixed", "failed to open")}
    print(f"  unexpected versions         {sum(other.values())} {other or ''}")
    print("  where the kills landed:")
    for where, n in landed.most_common():
        print(f"    {where:45s} {n}")
    print(f"  elapsed                     {elapsed:.1f} s")
    return (
        0 if opened == args.iterations and states["old"] + states["new"] == args.iterations else 1
    )


if __name__ == "__main__":
    sys.exit(main())

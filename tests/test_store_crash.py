"""Crash safety: SIGKILL a real writer process at random moments; the store must stay whole.

After every kill the store opens and shows exactly the last committed version or the one being
committed (never a mix: four tables carry the version's generation marker), with unique PMIDs.
The 100+-kill soak version is ``benchmarks/soak_kill.py``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evidence.store import Store
from tests.store_processes import REPO, check_generation, crash_step, kill_once, leftover_files

ROWS = 3000
KILLS = 20
MAX_DELAY = 0.7

pytestmark = pytest.mark.slow


@pytest.fixture
def crash_store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    crash_step(Store.create(root), ROWS)  # version 2: the writer's first generation
    return root


def test_sigkill_at_random_moments_leaves_old_or_new_state(crash_store: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    outcomes = [kill_once(crash_store, ROWS, rng.uniform(0, MAX_DELAY)) for _ in range(KILLS)]

    bad = [o for o in outcomes if o.state not in ("old", "new")]
    assert not bad, f"seed {seed}: {bad}"
    assert sum(o.commits for o in outcomes) > 0  # kills landed amid a stream of commits
    # the next commit clears whatever the last kill left behind
    version = crash_step(Store.open(crash_store), ROWS)
    assert leftover_files(crash_store) == {"temp": set(), "uncommitted": set(), "stale": set()}
    snap = Store.open(crash_store).snapshot()
    assert snap.version == version
    assert check_generation(snap, ROWS) == []


def test_readers_see_whole_versions_while_a_writer_commits(crash_store: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.store_processes", "crash-writer", str(crash_store)]
        + ["--rows", str(ROWS)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        store = Store.open(crash_store)
        seen, problems = set(), []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            snap = store.snapshot()
            time.sleep(random.uniform(0, 0.2))  # let commits retire its files before it reads
            problems += check_generation(snap, ROWS)
            seen.add(snap.version)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
    assert problems == []
    assert len(seen) >= 3  # the reader really raced several commits

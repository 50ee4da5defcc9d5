"""kill -9 a real `evidence refresh` process at random moments: the store is old or new, never mixed.

The store-level crash tests (test_store_crash.py) kill a writer 20+ times inside commits; this one
kills the actual refresh command, whose commit folds records, tags, links, verdicts and runs
together, and checks that what survives is one whole state.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from evidence.claims import load_claims
from evidence.pipeline import build_default_store
from evidence.refresh import plan_queries
from evidence.store import Store
from tests.conftest import copy_default_data
from tests.fake_eutils import FakeEutils, PubMedIndex, articles_from, curated_articles

KILLS = 6


def _state(store_dir: Path) -> tuple[int, int, int, bool]:
    snap = Store.open(store_dir).snapshot()
    records = snap["records"]
    return snap.version, len(records), len(snap["runs"]), bool(records["pmid"].is_unique)


def test_refresh_killed_at_random_moments_leaves_old_or_new_state(tmp_path, eutils_dir):
    seed = int(os.environ.get("EVIDENCE_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    template = copy_default_data(tmp_path / "template")
    build_default_store(template)
    old = _state(template / "store")

    with FakeEutils() as server:
        index = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
        index.also_serves = curated_articles(template / "corpus" / "curated_evidence.jsonl")
        for name, term in plan_queries(load_claims(template / "claims.yaml"), ()):
            if name.startswith("topic:"):
                index.add_search(term, sorted(index.articles))
        env = {
            **os.environ,
            "EVIDENCE_BASE_URL": server.base_url,
            "EVIDENCE_API_KEY": "test-key",
            "EVIDENCE_EMAIL": "tests@example.org",
        }

        def start(data: Path) -> subprocess.Popen:
            cmd = [sys.executable, "-m", "evidence.cli", "refresh", "--data-dir", str(data)]
            return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        # One undisturbed run tells what "new" looks like and how long a run takes.
        full = tmp_path / "full"
        shutil.copytree(template, full)
        began = time.monotonic()
        proc = start(full)
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
        duration = time.monotonic() - began
        new = _state(full / "store")
        assert new[0] == old[0] + 1 and new[1] > old[1]

        outcomes = []
        for i in range(KILLS):
            data = tmp_path / f"kill{i}"
            shutil.copytree(template, data)
            proc = start(data)
            time.sleep(rng.uniform(0.6, 1.0) * duration)  # the commit comes last
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            state = _state(data / "store")  # must open
            assert state in (old, new), f"mixed state {state} (seed {seed})"
            outcomes.append("new" if state == new else "old")
    print(f"refresh kills: {outcomes} (seed {seed}, run {duration:.1f} s)")

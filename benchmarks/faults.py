"""Every refresh fault probe through the real `evidence refresh` command, one line per probe.

Each probe (tests/fault_probes.py) starts from a copy of the default store, puts one fault on a
loopback E-utilities server or in the data folder, runs `python -m evidence.cli refresh` as its
own process (as cron would) and judges: exit code, store unchanged byte for byte, no temporary
files, no credential shown, a report naming the problem, then a healthy run that succeeds.
Also prints what a 25,000-hit query costs against the minimum number of esearch requests.

    python benchmarks/faults.py            # all probes; last line "faults held: N/N"
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence.pubmed import MAX_ESEARCH_IDS, PubMed  # noqa: E402
from evidence.settings import load_settings  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.fake_eutils import FakeEutils, PubMedIndex, synthetic_hits  # noqa: E402
from tests.fault_probes import PROBES, judge, make_template, run_command, world  # noqa: E402


def split_cost(tmp: Path, hits: int = 25_000) -> str:
    """Requests an over-cap query takes, against ceil(hits / cap) pages."""
    with FakeEutils() as server:
        index = PubMedIndex({}).install(server)
        index.add_search("SYNTHETIC[tiab]", synthetic_hits(hits))
        settings = load_settings(
            {"data_dir": tmp / "split", "base_url": server.base_url, "api_key": "bench"}, env={}
        )
        result = PubMed(settings).search_ids(
            "SYNTHETIC[tiab]", mindate="2001/01/01", maxdate="2010/12/31"
        )
        minimum = math.ceil(hits / MAX_ESEARCH_IDS)
        complete = len(set(result.ids)) == hits
        return (
            f"split: {hits:,} hits -> {len(set(result.ids)):,} PMIDs "
            f"({'complete' if complete else 'INCOMPLETE'}) in {len(server.log)} esearch requests "
            f"(minimum {minimum})"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only probes whose name contains this")
    args = ap.parse_args()
    eutils = SHARED / "fixtures" / "eutils"
    if not eutils.is_dir():
        print(f"{eutils} not found: set EVIDENCE_SHARED to the shared folder", file=sys.stderr)
        return 2
    probes = [p for p in PROBES if args.k in p.name]
    held = 0
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        print(split_cost(tmp))
        template = make_template(tmp / "template")
        for i, probe in enumerate(probes):
            began = time.monotonic()
            with world(template, tmp / f"probe{i}", eutils, volume=probe.volume) as w:
                problems = judge(probe, w, run_command)
            took = time.monotonic() - began
            if problems and problems[0].startswith("skipped:"):
                verdict = "skipped"
            elif problems:
                verdict = "FAILED"
            else:
                verdict, held = "held", held + 1
            print(f"{verdict:<7} {probe.name:<40} {took:5.1f} s  {'; '.join(problems)}")
    print(f"faults held: {held}/{len(probes)}")
    return 0 if held == len(probes) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Every refresh fault probe (tests/fault_probes.py) through `evidence refresh`, in process.

`benchmarks/faults.py` runs the same probes as separate `evidence refresh` processes.
"""

from __future__ import annotations

import pytest

from tests.fault_probes import PROBES, judge, make_template, run_in_process, world


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("template") / "data")


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_fault_probe_holds(probe, template, tmp_path, eutils_dir):
    with world(template, tmp_path / "data", eutils_dir, volume=probe.volume) as w:
        problems = judge(probe, w, run_in_process)
    if problems and problems[0].startswith("skipped:"):
        pytest.skip(problems[0])
    assert problems == []

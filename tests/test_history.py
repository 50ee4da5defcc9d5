"""The history in words: runs, editors' actions and a claim's verdict over time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evidence import curation, history_view, labels, views
from evidence.auth import EDITOR, User
from evidence.schema import RUNS
from evidence.store import Store
from tests import store_synthetic as syn
from tests.dashboard_store import XSS_PMID, make_data_dir

ALICE = User("alice", EDITOR, "password")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path, editor=False)


@pytest.fixture
def store(data_dir: Path) -> Store:
    return Store.open(data_dir / "store")


def _no_raw_cells(frame: pd.DataFrame) -> None:
    """What a person reads: no snake_case header, no None/NaN/JSON cell, no midnight time."""
    for column in frame.columns:
        assert "_" not in column, column
    text = frame.astype(str)
    for value in text.to_numpy().ravel():
        assert value not in ("None", "nan", "<NA>", "NaT"), frame
        assert "{" not in value and "00:00:00" not in value, value
        for raw in ("set_stance", "add_link", "mark_irrelevant", "set_directness"):
            assert raw not in value, value


def test_dates_read_as_dates_and_counts_agree_in_number() -> None:
    assert labels.when(pd.Timestamp("2026-11-26", tz="UTC"), long=True) == "26 Nov 2026"
    assert (
        labels.when(pd.Timestamp("2026-11-26 14:03:59", tz="UTC"), long=True) == "26 Nov 2026 14:03"
    )
    assert labels.when(pd.Timestamp("2026-11-26 15:03", tz="Europe/Paris"), long=True) == (
        "26 Nov 2026 14:03"
    )
    assert labels.when(None, long=True) == labels.when(pd.NaT, long=True) == ""
    assert labels.count(1, "study") == "1 study"
    assert labels.count(2, "new study") == "2 new studies"
    assert labels.count(0, "action") == "0 actions"


def test_run_changes_compare_each_claim_with_its_verdict_before_the_run(store: Store) -> None:
    later = pd.Timestamp("2027-01-05", tz="UTC")
    # an editor's regrade of C07 between the two runs is what the run is compared with
    edited = curation.curate(store, ALICE, "C07", XSS_PMID, stance="supports", note="SYNTHETIC")

    def change(s):
        v = s["verdicts"]
        nxt = v[v["run_id"].eq("default")].assign(run_id="r2", computed_at=later)
        nxt.loc[nxt["claim_id"].eq("C07"), ["grade", "score"]] = [edited.grade, edited.score]
        nxt.loc[nxt["claim_id"].eq("C12"), ["grade", "score"]] = ["Contradicted", 5]
        runs = pd.concat([s["runs"], syn.run("r2", later)], ignore_index=True)
        return {"verdicts": pd.concat([v, nxt], ignore_index=True), "runs": RUNS.conform(runs)}

    store.update(change, actor="tests")
    snap = store.snapshot()
    changes = history_view.run_changes(snap, "r2")
    # C07 kept the editor's verdict: not a change of the run
    assert changes.verdict_changes["Claim"].tolist() == ["C12"]
    assert changes.verdict_changes.iloc[0]["After"] == "Contradicted (5)"
    runs = history_view.runs_table(snap)
    assert runs["Run"].tolist() == ["r2", "default"]
    assert runs.iloc[1]["Started (UTC)"] == "26 Nov 2026"  # a dated import: no 00:00 time
    _no_raw_cells(runs)
    _no_raw_cells(changes.verdict_changes)
    first = history_view.run_changes(snap, "default").verdict_changes
    assert set(first["Before"]) == {"not graded before"}


def test_every_edit_regrades_and_the_history_says_who_what_why(store: Store) -> None:
    before = views.current_verdicts(store.snapshot())["C07"]
    supports = list(store.read("links").query("claim_id == 'C07' and stance == 'supports'")["pmid"])
    for pmid in supports:
        after = curation.curate(
            store, ALICE, "C07", pmid, stance="contradicts", note=f"SYNTHETIC why {pmid}"
        )
    curation.set_directness(store, ALICE, "C07", supports[0], direct=False, because="SYNTHETIC")
    snap = store.snapshot()
    latest = snap["verdicts"].sort_values("computed_at").groupby("claim_id").tail(1)
    stored = latest.set_index("claim_id").loc["C07"]
    live = views.current_verdicts(snap)["C07"]
    assert (stored["grade"], stored["score"]) == (live.grade, live.score)  # header == history
    assert after.grade != before.grade

    history = history_view.verdict_history(snap, "C07")
    assert history.iloc[0]["Who"] == "the import"
    assert history.iloc[0]["What happened"] == "Curated import (run default): 4 new studies linked"
    edits = history[history["Who"].eq("alice")]
    assert len(edits) == len(supports) + 1
    first = edits.iloc[0]
    assert first["What happened"] == (
        f"set PMID {supports[0]} to contradicts (was supports): “SYNTHETIC why {supports[0]}”"
    )
    assert first["Verdict"].startswith(f"{before.grade} ({before.score}) → ")
    assert edits.iloc[-1]["What happened"] == (
        f"marked PMID {supports[0]} as indirect: “SYNTHETIC”"
    )
    assert edits.iloc[len(supports) - 1]["Verdict"].endswith(f"{after.grade} ({after.score})")
    assert all(w.count(":") == 1 for w in edits["When (UTC)"])  # an edit has its time of day
    _no_raw_cells(history[history_view.HISTORY_COLUMNS])

    log = history_view.audit_log(snap)
    assert len(log) == len(supports) + 1
    assert log.iloc[-1]["What happened"].startswith(f"set PMID {supports[0]} on C07 to contradicts")
    _no_raw_cells(log)


def test_a_note_alone_and_an_attach_read_as_sentences(store: Store) -> None:
    curation.curate(store, ALICE, "C01", XSS_PMID, stance="background", action=curation.ATTACH_PMID)
    curation.curate(
        store, ALICE, "C01", XSS_PMID, note="SYNTHETIC remark", action=curation.ADD_NOTE
    )
    log = history_view.audit_log(store.snapshot(), "C01")
    assert log["What happened"].tolist() == [
        f"wrote a note on PMID {XSS_PMID}: “SYNTHETIC remark”",
        f"attached PMID {XSS_PMID} as background",
    ]
    assert log.iloc[0]["Verdict"].endswith("unchanged")


def test_actions_recorded_before_edits_were_regraded_still_show(store: Store) -> None:
    # Store.curate writes the link and its audit row only (as edits before schema v4 did)
    store.curate("dr-old", "C07", XSS_PMID, stance="supports", note="SYNTHETIC old edit")
    history = history_view.verdict_history(store.snapshot(), "C07")
    old = history[history["Who"].eq("dr-old")].iloc[0]
    assert old["What happened"] == (
        f"set PMID {XSS_PMID} to supports (was background): “SYNTHETIC old edit”"
    )
    assert old["Verdict"] == "" and pd.isna(old["score"])
    _no_raw_cells(history[history_view.HISTORY_COLUMNS])

"""An editor's note stays beside the curated finding; the history says who changed what and why.

The dashboard flow runs in Streamlit's AppTest on a real store; the schema v3 -> v4 migration on
a real store rewritten as v3 wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from evidence import views
from evidence.schema import LINKS, SCHEMA_VERSION
from evidence.store import Store
from tests.dashboard_store import EDITOR, EDITOR_PASSWORD, make_data_dir

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
NOTE = "SYNTHETIC editor note: the sham arm was small"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = make_data_dir(tmp_path)
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(data))
    return data


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _html(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_note_with_a_stance_keeps_the_finding_and_the_history_tells_the_edit(
    data_dir: Path,
) -> None:
    store = Store.open(data_dir / "store")
    links = store.read("links").set_index(["claim_id", "pmid"])
    pmid = "36692954"
    curated = links.loc[("C07", pmid), "note"]
    assert "Finding:" in curated and links.loc[("C07", pmid), "stance"] == "supports"
    before = views.current_verdicts(store.snapshot(), registry=views.load_registry(data_dir))

    at = _run(AppTest.from_file(APP, default_timeout=60))
    at.sidebar.text_input(key="sign_in_name").input(EDITOR)
    at.sidebar.text_input(key="sign_in_password").input(EDITOR_PASSWORD)
    at.sidebar.button[0].click()
    _run(at)
    at.session_state["claim_id"] = "C07"
    at.switch_page("app_pages/claim.py")
    _run(at)
    next(s for s in at.selectbox if s.label == "Study").select(pmid)
    next(r for r in at.radio if r.label == "Stance").set_value("contradicts")
    next(t for t in at.text_area if t.label == "Note (optional)").input(NOTE)
    next(b for b in at.button if b.label == "Set stance").click()
    _run(at)

    # stored: the curated summary untouched, the editor's note in its own field
    link = Store.open(data_dir / "store").read("links").set_index(["claim_id", "pmid"])
    assert link.loc[("C07", pmid), "note"] == curated
    assert link.loc[("C07", pmid), "curator_note"] == NOTE
    assert link.loc[("C07", pmid), "stance"] == "contradicts"

    # shown: the finding and the note, side by side in the study's panel
    html = _html(at)
    finding_words = "Patients were randomised to 24 deep TMS sessions over 6 weeks"
    assert finding_words in html
    assert "SYNTHETIC editor note" in html and "Editor&#39;s note" not in html
    assert any(c.value == "Editor's note" for c in at.caption)

    # the header and the newest history entry agree, and the entry says who, what, why
    now = views.current_verdicts(store.snapshot(), registry=views.load_registry(data_dir))["C07"]
    assert any(m.value.startswith(f"**Verdict: {now.grade}**") for m in at.markdown)
    # the why reads the editor's note as the curator's reading of that study
    assert next(s for s in now.deciding if s.pmid == pmid).reading == NOTE
    history = _table(at, "What happened")  # the verdict history, before the audit expander
    newest = history.iloc[0]
    assert newest["Who"] == EDITOR
    assert newest["What happened"] == (f"set PMID {pmid} to contradicts (was supports): “{NOTE}”")
    was = before["C07"]
    assert newest["Verdict"] == (
        f"{was.grade} ({was.score}) → {now.grade} ({now.score})"
        if (was.grade, was.score) != (now.grade, now.score)
        else f"{now.grade} ({now.score}), unchanged"
    )
    assert newest["When (UTC)"].count(":") == 1  # a time of day, to the minute
    assert list(history.columns) == ["When (UTC)", "Who", "What happened", "Verdict"]
    assert any(f"Verdict now: {now.grade} ({now.score})" in s.value for s in at.success)
    assert not any("set_stance" in s.value for s in at.success)

    # the history page tells the same edit in words
    at.switch_page("app_pages/history.py")
    _run(at)
    log = _table(at, "What happened")
    assert log.iloc[0]["What happened"].startswith(f"set PMID {pmid} on C07 to contradicts")
    assert log.iloc[0]["Who"] == EDITOR
    runs = _table(at, "Run")
    assert "run_id" not in runs.columns and runs.iloc[0]["Started (UTC)"] == "26 Nov 2026"
    assert any(c.value == "1 action, newest first." for c in at.caption)


def _as_v3(root: Path) -> None:
    """Rewrite a store as schema version 3 wrote it: links without ``curator_note``."""
    manifest = json.loads((root / "manifest.json").read_text())
    tables = {}
    for name, rel in manifest["tables"].items():
        files = [rel]
        if rel.endswith(".json"):  # a partition index: its ranges become one file again
            files = list(json.loads((root / rel).read_text())["files"].values())
        parts = [pq.read_table(root / f).replace_schema_metadata(None) for f in files]
        table = pa.concat_tables(parts)
        if name == "links":
            table = table.drop_columns(["curator_note"])
        meta = {b"evidence.schema_version": b"3", b"evidence.table": name.encode()}
        tables[name] = f"tables/{name}-{manifest['version']}.parquet"
        pq.write_table(table.replace_schema_metadata(meta), root / tables[name])
    manifest.update(schema_version=3, tables=tables, previous={}, checksums={})
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_a_v3_store_migrates_without_losing_a_note(data_dir: Path) -> None:
    store = Store.open(data_dir / "store")
    # v3 had one note: an editor's edit had overwritten the curated summary; keep what is there
    store.curate(EDITOR, "C07", "27090022", note="SYNTHETIC v3 editor note")
    old = store.snapshot()
    old_links = old["links"].drop(columns="curator_note")
    old_links.loc[old_links["pmid"].eq("27090022"), "note"] = "SYNTHETIC v3 editor note"
    old_verdicts, old_audit = old["verdicts"], old["audit"]

    def overwrite(snap):
        from evidence.partitions import Delta

        rows = snap["links"][snap["links"]["pmid"].eq("27090022")]
        rows = rows.assign(note="SYNTHETIC v3 editor note", curator_note=None)
        return {"links": Delta(LINKS.conform(rows))}

    store.update(overwrite, actor="tests")
    _as_v3(store.root)

    migrated = Store.open(store.root)
    assert json.loads((store.root / "manifest.json").read_text())["schema_version"] == 4
    assert SCHEMA_VERSION == 4
    links = migrated.read("links")
    assert links["curator_note"].isna().all()
    key = ["claim_id", "pmid"]
    pd.testing.assert_frame_equal(
        links.drop(columns="curator_note").sort_values(key).reset_index(drop=True),
        old_links.sort_values(key).reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(migrated.read("verdicts"), old_verdicts)
    pd.testing.assert_frame_equal(migrated.read("audit"), old_audit)
    assert links.dtypes.equals(LINKS.empty().dtypes)
    version = migrated.version
    assert Store.open(store.root).version == version  # migrates once

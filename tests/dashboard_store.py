"""A small real store for dashboard tests: the bundled curated evidence plus SYNTHETIC rows.

The SYNTHETIC record's title and note carry script/img payloads, so tests can check that text
from PubMed or a user is shown as text and never runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from evidence.auth import add_editor, editors_path
from evidence.merges import upsert_links, upsert_records
from evidence.pipeline import build_default_store
from evidence.schema import LINKS, RECORDS
from evidence.store import Snapshot, Store
from tests import store_synthetic as syn

REPO = Path(__file__).resolve().parent.parent
XSS_PMID = syn.pmid(1)
XSS_TITLE = (
    "SYNTHETIC test record <script>window.__xss=1</script><img src=x onerror=window.__xss=1>"
)
XSS_NOTE = "SYNTHETIC note <img src=x onerror=window.__xss=1> *not italic* $x$ [link](javascript:1)"
EDITOR = "alice"
EDITOR_PASSWORD = "correct horse battery"


def add_synthetic(store: Store, claim_id: str = "C07") -> None:
    """Add the SYNTHETIC payload record, linked to ``claim_id`` as background by a curator."""
    now = pd.Timestamp("2026-11-26", tz="UTC")
    rec = syn.records([syn.record(1, title=XSS_TITLE, retracted=False)])
    link = syn.links(
        [
            syn.link(
                claim_id,
                1,
                stance="background",
                stance_origin="curator",
                note=XSS_NOTE,
                first_linked_run="default",
                updated_at=now,
                updated_by="tests",
            )
        ]
    )

    def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
        records, _ = upsert_records(snap["records"], rec, "default", now)
        return {
            "records": RECORDS.conform(records),
            "links": LINKS.conform(upsert_links(snap["links"], link)),
        }

    store.update(change, actor="tests")


def make_data_dir(tmp: Path, *, synthetic: bool = True, editor: bool = True) -> Path:
    """A data folder (claims, content, store, editors file) under ``tmp``."""
    data = tmp / "data"
    data.mkdir(parents=True)
    shutil.copy(REPO / "data" / "claims.yaml", data / "claims.yaml")
    shutil.copytree(REPO / "data" / "content", data / "content")
    store = build_default_store(REPO / "data", data / "store")
    if synthetic:
        add_synthetic(store)
    if editor:
        add_editor(editors_path(data), EDITOR, EDITOR_PASSWORD)
    return data

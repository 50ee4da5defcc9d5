"""The Parquet store: round trips, merge rules, clear errors, migrations, concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from evidence import store as store_module
from evidence.errors import SchemaVersionError, StoreError
from evidence.merges import apply_curation
from evidence.schema import AUDIT, LINKS, RECORD_CHANGES, RECORDS, SCHEMA_VERSION, TABLES, TAGS
from evidence.store import (
    Delta,
    Store,
    append_audit,
    mark_dropped_links,
    replace_rows,
    upsert_links,
    upsert_records,
)
from tests import store_synthetic as syn

REPO = Path(__file__).resolve().parent.parent
T0 = pd.Timestamp("2024-01-01", tz="UTC")
T1 = pd.Timestamp("2024-02-01", tz="UTC")


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _data_file(root: Path, table: str) -> Path:
    """A Parquet file of a table: its one file, or the first range its partition index lists."""
    path = root / _manifest(root)["tables"][table]
    if path.suffix == ".json":
        return root / json.loads(path.read_text())["files"]["0"]
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.create(tmp_path / "store")


@pytest.fixture
def seeded(store: Store) -> Store:
    """One claim, three records, all linked with suggested stances."""
    recs, _ = upsert_records(
        RECORDS.empty(), syn.records(syn.record(n) for n in range(3)), "run-1", T0
    )
    found = syn.links(
        syn.link("C1", n, stance="supports", stance_origin="suggested") for n in range(3)
    )
    store.update(
        lambda snap: {"claims": syn.claims("C1"), "records": recs, "links": found}, actor="seed"
    )
    return store


# ----- round trip and layout -------------------------------------------------------------------


def test_create_gives_every_table_empty_with_schema_dtypes(store: Store) -> None:
    snap = store.snapshot()
    assert store.version == 1
    assert sorted(snap) == sorted(TABLES)
    for name, table in TABLES.items():
        assert len(snap[name]) == 0
        assert snap[name].dtypes.equals(table.empty().dtypes), name


def test_round_trip_keeps_values_and_dtypes(store: Store) -> None:
    rows = [syn.record(0), syn.record(1, retracted=True, pub_year=None, mesh=[])]
    recs, _ = upsert_records(RECORDS.empty(), syn.records(rows), "run-1", T0)
    store.update(lambda snap: {"records": recs}, actor="test")

    back = Store.open(store.root).read("records")
    pd.testing.assert_frame_equal(back, RECORDS.conform(recs))
    assert back.dtypes.equals(RECORDS.empty().dtypes)
    assert back.loc[1, "retracted"]
    assert pd.isna(back.loc[1, "pub_year"])
    assert back.loc[0, "mesh"][0]["descriptor"] == "Humans"
    assert back.loc[0, "last_checked"] == T0


def test_commit_rewrites_only_changed_tables_and_retires_old_files(store: Store) -> None:
    before = _manifest(store.root)["tables"]
    v = store.update(lambda snap: {"claims": syn.claims("C1")}, actor="test")
    after = _manifest(store.root)["tables"]
    assert v == 2
    assert after["claims"] == "tables/claims-2.parquet"
    assert {k: p for k, p in after.items() if k != "claims"} == {
        k: p for k, p in before.items() if k != "claims"
    }
    for k in range(3, 6):
        store.update(
            lambda snap, k=k: {"claims": syn.claims(*[f"C{i}" for i in range(k)])}, actor="t"
        )
    files = sorted(p.name for p in (store.root / "tables").iterdir())
    # current and previous version's claims file kept for slow readers; older ones removed
    assert [f for f in files if f.startswith("claims")] == ["claims-4.parquet", "claims-5.parquet"]


def test_update_returning_nothing_does_not_commit(store: Store) -> None:
    assert store.update(lambda snap: {}, actor="test") == 1
    assert store.version == 1


def test_files_carry_schema_version_and_table_name(store: Store) -> None:
    path = _data_file(store.root, "links")
    meta = pq.read_schema(path).metadata
    assert meta[b"evidence.schema_version"] == str(SCHEMA_VERSION).encode()
    assert meta[b"evidence.table"] == b"links"


def test_orphans_of_a_killed_writer_are_removed_by_the_next_commit(store: Store) -> None:
    tables = store.root / "tables"
    (tables / "records-7.parquet").write_bytes(b"half")
    (tables / ".links-7.parquet.123.tmp").write_bytes(b"half")
    (store.root / ".manifest.json.123.tmp").write_text("{")
    store.update(lambda snap: {"claims": syn.claims("C1")}, actor="test")
    leftovers = {p.name for p in tables.iterdir()} | {p.name for p in store.root.glob(".*.tmp")}
    assert not leftovers & {
        "records-7.parquet",
        ".links-7.parquet.123.tmp",
        ".manifest.json.123.tmp",
    }


# ----- clear errors ----------------------------------------------------------------------------


def test_open_missing_store_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="evidence build-default.*evidence refresh"):
        Store.open(tmp_path / "nowhere")


def test_create_refuses_to_overwrite(store: Store) -> None:
    with pytest.raises(StoreError, match="already exists"):
        Store.create(store.root)


def test_missing_table_file_is_an_error_naming_table_and_file(seeded: Store) -> None:
    rel = _manifest(seeded.root)["tables"]["links"]
    (seeded.root / rel).unlink()
    with pytest.raises(StoreError, match=rf"table 'links': file .*{rel}.* is missing"):
        Store.open(seeded.root)
    with pytest.raises(StoreError, match="'links'"):
        seeded.read("records")  # any read of the snapshot refuses a damaged store


@pytest.mark.parametrize("damage", [b"", b"not parquet at all", "truncate"])
def test_corrupt_table_file_is_an_error_naming_it(seeded: Store, damage: bytes | str) -> None:
    path = seeded.root / _manifest(seeded.root)["tables"]["records"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else damage)
    with pytest.raises(StoreError, match=rf"table 'records': {path}"):
        Store.open(seeded.root)


def test_missing_manifest_next_to_tables_is_reported_as_damage(seeded: Store) -> None:
    (seeded.root / "manifest.json").unlink()
    with pytest.raises(StoreError, match="manifest.json is missing.*damaged"):
        Store.open(seeded.root)


def test_corrupt_manifest_is_an_error_naming_it(seeded: Store) -> None:
    (seeded.root / "manifest.json").write_text('{"format": "evidence-store", "version": ')
    with pytest.raises(StoreError, match="manifest.json: unreadable store manifest"):
        Store.open(seeded.root)


def test_table_file_with_wrong_columns_is_an_error(seeded: Store) -> None:
    path = _data_file(seeded.root, "links")
    table = pq.read_table(path)
    pq.write_table(
        table.drop_columns(["note"]).replace_schema_metadata(table.schema.metadata), path
    )
    with pytest.raises(StoreError, match=r"table 'links'.*missing columns \['note'\]"):
        Store.open(seeded.root)


def test_newer_schema_version_is_refused(seeded: Store) -> None:
    manifest = _manifest(seeded.root)
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (seeded.root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaVersionError, match="upgrade the evidence package"):
        Store.open(seeded.root)


def test_duplicate_keys_are_refused(store: Store) -> None:
    twice = RECORDS.conform(pd.concat([_stored_records([0, 1])] * 2, ignore_index=True))
    with pytest.raises(StoreError, match=r"'records': duplicate \['pmid'\]"):
        store.update(lambda snap: {"records": twice}, actor="test")
    assert store.version == 1


def test_rows_not_fitting_the_schema_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="'claims': rows do not fit"):
        store.update(lambda snap: {"claims": syn.claims("C1").drop(columns=["query"])}, actor="t")


def test_records_and_links_are_never_deleted(seeded: Store) -> None:
    with pytest.raises(StoreError, match="'records': rows are never deleted"):
        seeded.update(lambda snap: {"records": snap["records"].iloc[1:]}, actor="test")
    with pytest.raises(StoreError, match="'links': rows are never deleted"):
        seeded.update(lambda snap: {"links": snap["links"].iloc[:1]}, actor="test")


def test_audit_is_append_only(seeded: Store) -> None:
    seeded.curate("dr-a", "C1", syn.pmid(0), stance="supports")

    def rewrite(snap):
        audit = snap["audit"]
        audit.loc[0, "actor"] = "someone else"
        return {"audit": audit}

    with pytest.raises(StoreError, match="append-only"):
        seeded.update(rewrite, actor="test")


def test_held_lock_gives_a_clear_error(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s", lock_timeout=0.2)
    with FileLock(tmp_path / "s" / ".lock"), pytest.raises(StoreError, match="locked by another"):
        store.update(lambda snap: {"claims": syn.claims("C1")}, actor="test")


# ----- migrations ------------------------------------------------------------------------------


def _write_v0_store(root: Path) -> None:
    """A synthetic schema-version-0 store: links lacked stance_evidence, record_changes absent."""
    (root / "tables").mkdir(parents=True)
    tables = {}
    for name, table in TABLES.items():
        if name == "record_changes":
            continue
        df = syn.links([syn.link("C1", 0, note="SYNTHETIC v0 note")]) if name == "links" else None
        arrow = table.to_arrow(table.empty() if df is None else df)
        if name == "links":
            arrow = arrow.drop_columns(["stance_evidence"])
        meta = {b"evidence.schema_version": b"0", b"evidence.table": name.encode()}
        pq.write_table(arrow.replace_schema_metadata(meta), root / "tables" / f"{name}-1.parquet")
        tables[name] = f"tables/{name}-1.parquet"
    manifest = {
        "format": "evidence-store",
        "schema_version": 0,
        "version": 1,
        "tables": tables,
        "committed_at": "2024-01-01T00:00:00+00:00",
        "actor": "synthetic",
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def _v0_to_v1(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    tables["links"] = tables["links"].assign(stance_evidence=None)
    tables["record_changes"] = RECORD_CHANGES.empty()
    return tables


def test_old_store_is_migrated_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evidence.migrations  # noqa: F401  (registers v1 -> v2 until store.py imports it)

    monkeypatch.setitem(store_module.MIGRATIONS, 0, _v0_to_v1)
    _write_v0_store(tmp_path / "s")

    store = Store.open(tmp_path / "s")

    manifest = _manifest(tmp_path / "s")
    assert (manifest["schema_version"], manifest["version"]) == (SCHEMA_VERSION, 2)
    links = store.read("links")
    assert links.loc[0, "note"] == "SYNTHETIC v0 note"
    assert pd.isna(links.loc[0, "stance_evidence"])
    assert (links.loc[0, "direct"], links.loc[0, "indirect_because"]) == (True, "")
    assert links.dtypes.equals(LINKS.empty().dtypes)
    assert len(store.read("record_changes")) == 0
    assert Store.open(tmp_path / "s").version == 2  # migrates once


def test_old_store_without_a_migration_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(store_module.MIGRATIONS, 0, raising=False)
    _write_v0_store(tmp_path / "s")
    with pytest.raises(SchemaVersionError, match="no migration from schema version 0"):
        Store.open(tmp_path / "s")
    assert _manifest(tmp_path / "s")["schema_version"] == 0  # left untouched


# ----- readers see old or new ------------------------------------------------------------------


def test_snapshot_stays_on_its_version_across_later_commits(seeded: Store) -> None:
    snap = seeded.snapshot()  # opens files; reads lazily later
    for k in range(3):
        seeded.curate("dr-a", "C1", syn.pmid(1), note=f"SYNTHETIC note {k}")
    # its files are retired by now; the snapshot still reads the version it was taken at
    assert not (seeded.root / snap.manifest.tables["links"]).exists()
    assert snap["links"]["note"].isna().all()
    assert len(snap["audit"]) == 0
    link = seeded.read("links").set_index("pmid").loc[syn.pmid(1)]
    assert link["curator_note"] == "SYNTHETIC note 2" and pd.isna(link["note"])


# ----- merge helpers ---------------------------------------------------------------------------


def _stored_records(ns: list[int], **fields) -> pd.DataFrame:
    recs, _ = upsert_records(
        RECORDS.empty(), syn.records(syn.record(n, **fields) for n in ns), "run-1", T0
    )
    return recs


def test_upsert_records_adds_and_marks_seen_without_duplicates() -> None:
    existing = _stored_records([0, 1])
    merged, changes = upsert_records(
        existing, syn.records([syn.record(1), syn.record(2), syn.record(2)]), "run-2", T1
    )
    assert sorted(merged["pmid"]) == [syn.pmid(0), syn.pmid(1), syn.pmid(2)]
    by = merged.set_index("pmid")
    assert by.loc[syn.pmid(1), "first_seen_run"] == "run-1"
    assert by.loc[syn.pmid(1), "last_seen_run"] == "run-2"
    assert by.loc[syn.pmid(1), "last_checked"] == T1
    assert by.loc[syn.pmid(0), "last_seen_run"] == "run-1"  # not seen again, kept as it was
    assert by.loc[syn.pmid(2), "origin"] == "efetch"
    assert len(changes) == 0  # same content hash: nothing to report
    assert merged.dtypes.equals(RECORDS.empty().dtypes)


def test_upsert_records_reports_which_fields_changed() -> None:
    existing = _stored_records([0, 1])
    newer = [
        syn.record(0, revision=1, retracted=True, retraction_notices=[syn.pmid(50)]),
        syn.record(1, revision=1, mesh=[], keywords=["synthetic", "more"]),
    ]
    merged, changes = upsert_records(existing, syn.records(newer), "run-2", T1)
    by = changes.set_index("pmid")
    assert list(by.loc[syn.pmid(0), "fields"]) == ["title", "retracted", "retraction_notices"]
    assert by.loc[syn.pmid(0), "summary"] == "title changed; became retracted"
    assert by.loc[syn.pmid(1), "summary"] == "title changed; MeSH removed; keywords changed"
    assert (by.loc[syn.pmid(0), "old_hash"], by.loc[syn.pmid(0), "new_hash"]) == (
        "synthetic-0-0",
        "synthetic-0-1",
    )
    assert merged.set_index("pmid").loc[syn.pmid(0), "retracted"]
    assert changes.dtypes.equals(RECORD_CHANGES.empty().dtypes)


def test_efetch_over_curated_fills_in_and_keeps_curated_origin() -> None:
    curated = _stored_records(
        [0],
        source="curated",
        abstract=None,
        mesh=[],
        doi="10.0000/synthetic",
        content_hash="curated-0",
    )
    fetched = syn.records([syn.record(0, doi=None)])
    merged, changes = upsert_records(curated, fetched, "run-2", T1)
    row = merged.iloc[0]
    assert row["origin"] == "curated"
    assert row["source"] == "efetch"
    assert row["abstract"].startswith("SYNTHETIC abstract")
    assert row["mesh"][0]["descriptor"] == "Humans"
    assert row["doi"] == "10.0000/synthetic"  # efetch lacked it; the curated value stays
    assert "abstract added" in changes.iloc[0]["summary"]
    assert "MeSH added" in changes.iloc[0]["summary"]

    # and a later curated import does not strip what efetch brought
    again, changes = upsert_records(
        merged, syn.records([syn.record(0, source="curated", abstract=None)]), "run-3", T1
    )
    assert again.iloc[0]["abstract"].startswith("SYNTHETIC abstract")
    assert again.iloc[0]["source"] == "efetch"
    assert len(changes) == 0


def test_upsert_links_never_overwrites_a_curator() -> None:
    existing = syn.links(
        [
            syn.link("C1", 0, stance="contradicts", stance_origin="curator", note="SYNTHETIC why"),
            syn.link("C1", 1, stance="supports", stance_origin="suggested", updated_at=T0),
            syn.link("C1", 2, stance="supports", stance_origin="suggested", updated_at=T1),
        ]
    )
    incoming = syn.links(
        [
            syn.link(
                "C1",
                0,
                stance="supports",
                stance_origin="suggested",
                relevance=0.9,
                updated_at=T1,
                first_linked_run="run-9",
            ),
            syn.link("C1", 1, stance="mixed", stance_origin="suggested", updated_at=T1),
            syn.link("C1", 2, stance="background", stance_origin="suggested", updated_at=T0),
            syn.link("C1", 3, stance="supports", stance_origin="suggested"),
        ]
    )
    merged = upsert_links(existing, incoming).set_index("pmid")
    p = syn.pmid
    assert merged.loc[p(0), ["stance", "stance_origin", "note"]].tolist() == [
        "contradicts",
        "curator",
        "SYNTHETIC why",
    ]
    assert merged.loc[p(0), "relevance"] == 0.9
    assert merged.loc[p(0), "first_linked_run"] == "run-1"
    assert merged.loc[p(1), "stance"] == "mixed"  # newer suggestion replaces older
    assert merged.loc[p(2), "stance"] == "supports"  # older suggestion does not
    assert p(3) in merged.index
    assert len(merged) == 4

    by_curator = syn.links([syn.link("C1", 0, stance="mixed", stance_origin="curator")])
    assert upsert_links(existing, by_curator).set_index("pmid").loc[p(0), "stance"] == "mixed"
    assert upsert_links(existing, by_curator).set_index("pmid").loc[p(0), "note"] == "SYNTHETIC why"


def test_dropped_links_are_flagged_not_deleted() -> None:
    existing = syn.links([syn.link("C1", n) for n in range(3)] + [syn.link("C2", 0)])
    out = mark_dropped_links(existing, "C1", [syn.pmid(1)])
    assert len(out) == 4
    flags = out.set_index(["claim_id", "pmid"])["in_latest_query"]
    assert not flags[("C1", syn.pmid(0))]
    assert flags[("C1", syn.pmid(1))]
    assert flags[("C2", syn.pmid(0))]  # another claim's link is untouched
    assert existing["in_latest_query"].all()  # input not mutated


def test_replace_rows_replaces_in_place_and_appends() -> None:
    claims = syn.claims("C1", "C2")
    new = syn.claims("C2", "C3").assign(statement=["SYNTHETIC new", "SYNTHETIC third"])
    out = replace_rows(claims, new, TABLES["claims"])
    assert out["claim_id"].tolist() == ["C1", "C2", "C3"]
    assert out["statement"].tolist()[1:] == ["SYNTHETIC new", "SYNTHETIC third"]
    with pytest.raises(ValueError, match="duplicate key"):
        replace_rows(claims, pd.concat([new, new]), ("claim_id",))


def test_append_audit_requires_who_and_what() -> None:
    row = {"at": T0, "actor": "dr-a", "action": "set_note", "claim_id": "C1", "pmid": syn.pmid(0)}
    out = append_audit(AUDIT.empty(), [row])
    assert len(append_audit(out, [row])) == 2
    with pytest.raises(ValueError, match="'actor' is required"):
        append_audit(out, [{**row, "actor": " "}])


def test_curation_of_an_unlinked_record_adds_the_link() -> None:
    links, audit_row = apply_curation(
        syn.links([]),
        _stored_records([5]),
        actor="dr-a",
        claim_id="C1",
        pmid=syn.pmid(5),
        at=T0,
        stance="background",
    )
    assert links.iloc[0][["stance", "stance_origin", "in_latest_query"]].tolist() == [
        "background",
        "curator",
        False,
    ]
    assert (audit_row["action"], audit_row["before"]) == ("add_link", None)
    with pytest.raises(ValueError, match="not in the records table"):
        apply_curation(
            syn.links([]),
            _stored_records([5]),
            actor="dr-a",
            claim_id="C1",
            pmid=syn.pmid(6),
            at=T0,
            stance="supports",
        )
    with pytest.raises(ValueError, match="unknown stance"):
        apply_curation(
            links,
            _stored_records([5]),
            actor="dr-a",
            claim_id="C1",
            pmid=syn.pmid(5),
            at=T0,
            stance="agrees",
        )


def test_curate_updates_link_and_audit_in_one_commit(seeded: Store) -> None:
    v = seeded.curate("dr-a", "C1", syn.pmid(1), stance="contradicts", note="SYNTHETIC reason")
    assert v == seeded.version == 3
    link = seeded.read("links").set_index("pmid").loc[syn.pmid(1)]
    assert (link["stance"], link["stance_origin"], link["updated_by"]) == (
        "contradicts",
        "curator",
        "dr-a",
    )
    audit = seeded.read("audit")
    assert len(audit) == 1
    row = audit.iloc[0]
    assert (row["actor"], row["action"], row["claim_id"], row["note"]) == (
        "dr-a",
        "set_stance",
        "C1",
        "SYNTHETIC reason",
    )
    assert json.loads(row["before"]) == {
        "curator_note": None,
        "stance": "supports",
        "stance_origin": "suggested",
    }
    assert json.loads(row["after"])["stance"] == "contradicts"
    manifest = _manifest(seeded.root)  # both written by the one commit, version 3
    assert (manifest["tables"]["links"], manifest["tables"]["audit"]) == (
        "tables/links-3.json",
        "tables/audit-3.parquet",
    )


def test_curate_unknown_claim_is_an_error(seeded: Store) -> None:
    with pytest.raises(StoreError, match="unknown claim 'C9'"):
        seeded.curate("dr-a", "C9", syn.pmid(0), stance="supports")
    assert seeded.version == 2


# ----- two real processes ----------------------------------------------------------------------


def test_curator_edit_during_a_refresh_is_never_lost(seeded: Store, tmp_path: Path) -> None:
    signal = tmp_path / "computed"
    cmd = [sys.executable, "-m", "tests.store_processes"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    refresh = subprocess.Popen(
        [*cmd, "slow-refresh", str(seeded.root), str(signal), "--sleep", "1.5"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    curator = subprocess.run(
        [*cmd, "curate", str(seeded.root), str(signal), "--actor", "dr-b"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out, _ = refresh.communicate(timeout=60)
    assert curator.returncode == 0, curator.stderr
    assert refresh.returncode == 0
    curated_at = int(curator.stdout.split()[-1])
    refreshed_at = int(out.split()[-1])
    assert curated_at < refreshed_at  # the edit landed while the refresh was computing

    snap = Store.open(seeded.root).snapshot()
    link = snap["links"].set_index("pmid").loc[syn.pmid(0)]
    assert (link["stance"], link["stance_origin"], link["curator_note"]) == (
        "contradicts",
        "curator",
        "SYNTHETIC curator note",
    )
    assert snap["audit"]["actor"].tolist() == ["dr-b"]
    recs = snap["records"].set_index("pmid")
    assert not recs.index.duplicated().any()
    assert set(recs.index) == {syn.pmid(n) for n in range(4)}
    assert (recs["last_seen_run"] == "run-slow").all()
    assert recs.loc[syn.pmid(0), "title"].endswith("(rev 1)")
    assert snap["links"].set_index("pmid").loc[syn.pmid(3), "stance_origin"] == "suggested"


# ----- partitioned tables ----------------------------------------------------------------------


@pytest.fixture
def ranged(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Records in ranges of at most 3 rows, opened lazily; 9 records (3 ranges), all linked to C1;
    a second claim C2 without links."""
    monkeypatch.setitem(TABLES, "records", replace(RECORDS, partition_rows=3))
    monkeypatch.setattr(store_module, "EAGER_FILES", 0)
    recs, _ = upsert_records(
        RECORDS.empty(), syn.records(syn.record(n) for n in range(9)), "run-1", T0
    )
    found = syn.links(syn.link("C1", n) for n in range(9))
    store.update(
        lambda snap: {"claims": syn.claims("C1", "C2"), "records": recs, "links": found},
        actor="seed",
    )
    return store


def _ranges(root: Path, table: str) -> dict[str, str]:
    return json.loads((root / _manifest(root)["tables"][table]).read_text())["files"]


def test_a_delta_rewrites_only_the_ranges_it_touches(ranged: Store) -> None:
    before = _ranges(ranged.root, "records")
    assert list(before) == ["0", syn.pmid(3), syn.pmid(6)]
    incoming = syn.records([syn.record(4, revision=1), syn.record(20)])
    recs, _ = upsert_records(
        ranged.snapshot().rows("records", incoming["pmid"]), incoming, "r2", T1
    )
    ranged.update(lambda snap: {"records": Delta(recs)}, actor="test")

    after = _ranges(ranged.root, "records")
    assert after["0"] == before["0"]  # untouched range: the same file, not rewritten
    assert after[syn.pmid(3)] != before[syn.pmid(3)] and after[syn.pmid(6)] != before[syn.pmid(6)]
    records = Store.open(ranged.root).read("records")
    assert records["pmid"].tolist() == [syn.pmid(n) for n in [*range(9), 20]]
    assert records.set_index("pmid").loc[syn.pmid(4), "title"].endswith("(rev 1)")
    assert ranged.check().healthy


def test_grading_facts_follow_records_and_tags_whoever_writes_them(ranged: Store) -> None:
    facts = ranged.read("record_facts").set_index("pmid")
    assert len(facts) == 9 and not facts["retracted"].any() and facts["design"].isna().all()
    retracted = syn.records([syn.record(4, revision=1, retracted=True)])
    recs, _ = upsert_records(ranged.snapshot().rows("records", [syn.pmid(4)]), retracted, "r", T1)
    tag = pd.DataFrame(
        [(syn.pmid(5), "cohort", "design", "curator", 1.0, "")], columns=TAGS.columns
    )
    ranged.update(lambda snap: {"records": Delta(recs), "tags": Delta(tag)}, actor="test")
    facts = ranged.read("record_facts").set_index("pmid")
    assert facts.loc[syn.pmid(4), "retracted"] and facts.loc[syn.pmid(5), "design"] == "cohort"
    whole = ranged.read("records").assign(pub_year=1999)  # a writer of whole tables too
    ranged.update(lambda snap: {"records": whole}, actor="test")
    assert ranged.read("record_facts")["pub_year"].eq(1999).all()


def test_rows_of_some_pmids_read_only_their_ranges(ranged: Store) -> None:
    files = _ranges(ranged.root, "records")
    for part, rel in files.items():
        if part != syn.pmid(3):
            (ranged.root / rel).write_bytes(b"damaged")  # never read if rows() is selective
    snap = ranged.snapshot()
    rows = snap.rows("records", [syn.pmid(4), syn.pmid(5)], ["pmid", "title"])
    assert sorted(rows["pmid"]) == [syn.pmid(4), syn.pmid(5)]
    assert list(rows.columns) == ["pmid", "title"]
    with pytest.raises(StoreError, match=r"table 'records': .*records-p0-"):
        snap["records"]  # a whole read does meet the damaged ranges, and names one


def test_a_curator_edit_reads_no_record_range_and_writes_links_and_audit_only(
    ranged: Store,
) -> None:
    holding = syn.pmid(6)
    for part, rel in _ranges(ranged.root, "records").items():
        if part != holding:
            (ranged.root / rel).write_bytes(b"damaged")  # an edit must not need them
    before = _manifest(ranged.root)["tables"]
    files = set((ranged.root / "tables").iterdir())

    ranged.curate("dr-a", "C1", syn.pmid(2), stance="supports")  # an existing link
    ranged.curate("dr-a", "C2", syn.pmid(7), stance="background")  # attaching one: is it stored?

    after = _manifest(ranged.root)["tables"]
    assert {t for t in TABLES if after[t] != before[t]} == {"links", "audit"}
    new = {p.name for p in set((ranged.root / "tables").iterdir()) - files}
    assert all(n.startswith(("links", "audit")) for n in new)
    with pytest.raises(StoreError, match="not in the records table"):
        ranged.curate("dr-a", "C1", syn.pmid(99), stance="supports")


def test_deltas_that_break_the_rules_are_refused(ranged: Store) -> None:
    recs = ranged.snapshot().rows("records", [syn.pmid(0)])
    with pytest.raises(StoreError, match="'records': rows are never deleted"):
        ranged.update(lambda snap: {"records": Delta(recs, replace={syn.pmid(1)})}, actor="t")
    with pytest.raises(StoreError, match="'claims' is not partitioned"):
        ranged.update(lambda snap: {"claims": Delta(syn.claims("C2"))}, actor="t")
    odd = recs.assign(pmid="PMC123")
    with pytest.raises(StoreError, match="'records': PMID 'PMC123' is not a number"):
        ranged.update(lambda snap: {"records": Delta(odd)}, actor="t")
    with pytest.raises(StoreError, match=r"'records': duplicate \['pmid'\]"):
        ranged.update(lambda snap: {"records": Delta(pd.concat([recs, recs]))}, actor="t")
    assert ranged.version == 2


def test_a_snapshot_whose_lazy_range_was_retired_asks_for_a_new_one(ranged: Store) -> None:
    snap = ranged.snapshot()
    for k in (1, 2):
        revised = syn.records([syn.record(0, revision=k)])
        recs, _ = upsert_records(
            ranged.snapshot().rows("records", revised["pmid"]), revised, "r", T1
        )
        ranged.update(lambda s, recs=recs: {"records": Delta(recs)}, actor="test")
    with pytest.raises(StoreError, match="retired by later commits.*take a new snapshot"):
        snap["records"]
    assert ranged.snapshot()["records"]["title"].iloc[0].endswith("(rev 2)")


def test_a_table_kept_in_one_file_is_read_and_its_next_delta_writes_ranges(ranged: Store) -> None:
    manifest = _manifest(ranged.root)
    whole = ranged.read("records")
    one = "tables/records-2.parquet"  # as a store written before partitions holds it
    arrow = RECORDS.to_arrow(whole)
    meta = {b"evidence.schema_version": str(SCHEMA_VERSION).encode(), b"evidence.table": b"records"}
    pq.write_table(arrow.replace_schema_metadata(meta), ranged.root / one)
    manifest["tables"]["records"] = one
    manifest["checksums"] = {k: v for k, v in manifest["checksums"].items() if "records" not in k}
    (ranged.root / "manifest.json").write_text(json.dumps(manifest))

    pd.testing.assert_frame_equal(Store.open(ranged.root).read("records"), whole)
    new, _ = upsert_records(RECORDS.empty(), syn.records([syn.record(30)]), "r2", T1)
    ranged.update(lambda snap: {"records": Delta(new)}, actor="test")
    assert _manifest(ranged.root)["tables"]["records"].endswith(".json")
    assert len(_ranges(ranged.root, "records")) == 4
    assert len(ranged.read("records")) == 10


def test_a_damaged_index_or_range_is_found_and_rolled_back(ranged: Store) -> None:
    recs, _ = upsert_records(RECORDS.empty(), syn.records([syn.record(20)]), "r2", T1)
    ranged.update(lambda snap: {"records": Delta(recs)}, actor="test")
    top = ranged.root / _ranges(ranged.root, "records")[syn.pmid(6)]
    top.write_bytes(top.read_bytes()[:100])
    result = ranged.check()
    assert len(result.problems) == 1 and top.name in result.problems[0]
    index = ranged.root / _manifest(ranged.root)["tables"]["records"]
    index.write_text(index.read_text().replace("records-p0", "../outside"))
    assert "changed after it was committed" in ranged.check().problems[0]
    with pytest.raises(StoreError, match=r"table 'records'.*store check"):
        Store.open(ranged.root)
    ranged.rollback("operator")
    assert ranged.check().healthy
    assert len(Store.open(ranged.root).read("records")) == 9

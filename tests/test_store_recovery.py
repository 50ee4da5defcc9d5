"""Store recovery: check, rollback, build-default --force, confined manifest paths, failed commits.

Every test works on a real Parquet store in a temp dir; damage is done to the real files. The
full-disk test mounts a real small tmpfs when it can (root) and skips with the reason otherwise;
the simulated ENOSPC tests run everywhere.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from evidence import store as store_module
from evidence.errors import SchemaVersionError, StoreError
from evidence.pipeline import build_default_store
from evidence.schema import RECORDS, TABLES
from evidence.settings import load_settings
from evidence.store import Store, upsert_records
from evidence.store_cli import (
    add_build_default_options,
    add_store_commands,
    run_build_default,
    run_store_command,
)
from tests import store_synthetic as syn

T0 = pd.Timestamp("2024-01-01", tz="UTC")
RECOVERY = r"store check.*store rollback.*build-default --force"


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text())


def _write_manifest(root: Path, body: dict[str, Any]) -> None:
    (root / "manifest.json").write_text(json.dumps(body))


def _files(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: 'exactly as it was' means this is equal."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    with Store.open(root).snapshot() as snap:
        return {name: snap[name] for name in snap}


def _assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


@pytest.fixture
def seeded(tmp_path: Path) -> Store:
    """Version 2: one claim, three suggested links; version 3: a curator's stance on one."""
    store = Store.create(tmp_path / "store")
    recs, _ = upsert_records(
        RECORDS.empty(), syn.records(syn.record(n) for n in range(3)), "run-1", T0
    )
    found = syn.links(
        syn.link("C1", n, stance="supports", stance_origin="suggested") for n in range(3)
    )
    store.update(
        lambda snap: {"claims": syn.claims("C1"), "records": recs, "links": found}, actor="seed"
    )
    store.curate("dr-a", "C1", syn.pmid(1), stance="contradicts", note="SYNTHETIC reason")
    assert store.version == 3
    return store


def _path(store: Store, table: str, which: str = "tables") -> Path:
    """The file the manifest names for a table: its one file, or its partition index."""
    return store.root / _manifest(store.root)[which][table]


def _data_file(store: Store, table: str) -> Path:
    """A Parquet file of a table: its one file, or the first range its index lists."""
    path = _path(store, table)
    if path.suffix == ".json":
        return store.root / json.loads(path.read_text())["files"]["0"]
    return path


def _args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(**values)


# ----- check -----------------------------------------------------------------------------------


def test_check_of_a_healthy_store_finds_no_problems(seeded: Store, capsys) -> None:
    result = seeded.check()
    assert result.problems == []
    assert result.healthy
    assert [f.name for f in result.tables] == list(TABLES)
    assert all(f.ok and f.checksum_verified for f in result.tables)
    assert {f.name: f.rows for f in result.tables}["links"] == 3
    assert (result.version, result.previous_version, result.previous_intact) == (3, 2, True)

    settings = load_settings({"data_dir": seeded.root.parent})
    assert run_store_command(settings, _args(store_command="check")) == 0
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if " ok " in line]) == len(TABLES)
    assert "healthy" in out


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_check_names_a_corrupt_table_file(seeded: Store, damage: str, capsys) -> None:
    path = _path(seeded, "links")
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": b"not parquet", "empty": b""}
    path.write_bytes(damaged[damage])

    result = seeded.check()
    assert not result.healthy
    assert len(result.problems) == 1
    assert "'links'" in result.problems[0] and path.name in result.problems[0]
    assert result.previous_intact  # links-2 is untouched: a rollback can repair this

    settings = load_settings({"data_dir": seeded.root.parent})
    assert run_store_command(settings, _args(store_command="check")) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "DAMAGED" in lines["links"] and path.name in lines["links"]
    assert all(" ok " in lines[name] for name in TABLES if name != "links")
    assert "store rollback" in out.splitlines()[-1]


def test_check_names_a_missing_table_file_and_open_says_how_to_recover(seeded: Store) -> None:
    path = _path(seeded, "audit")
    path.unlink()
    result = seeded.check()
    assert result.problems == [f"table 'audit': tables/{path.name}: file is missing"]
    with pytest.raises(StoreError, match=rf"table 'audit'.*{path.name}.*missing.*{RECOVERY}"):
        Store.open(seeded.root)


def test_rollback_is_not_suggested_when_it_cannot_help(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "store")  # version 1: there is no previous version
    _path(store, "links").unlink()
    with pytest.raises(StoreError, match="store check.*build-default --force") as raised:
        Store.open(store.root)
    assert "store rollback" not in str(raised.value)


def test_check_finds_a_valid_parquet_file_changed_behind_the_stores_back(seeded: Store) -> None:
    path = _data_file(seeded, "links")
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)  # still a readable links table, metadata and all
    Store.open(seeded.root)  # opening cannot tell ...

    result = seeded.check()  # ... the recorded sha256 can
    assert len(result.problems) == 1
    assert (
        "'links'" in result.problems[0] and "changed after it was committed" in result.problems[0]
    )


def test_manifest_without_checksums_from_older_code_still_works(seeded: Store) -> None:
    body = _manifest(seeded.root)
    del body["checksums"]
    _write_manifest(seeded.root, body)

    result = seeded.check()
    assert result.healthy and result.previous_intact
    named = set(body["tables"].values())  # files the manifest names itself (not indexed ranges)
    assert not any(f.checksum_verified for f in result.tables if f.path in named)
    seeded.update(lambda snap: {"claims": syn.claims("C1", "C2")}, actor="test")
    after = _manifest(seeded.root)
    assert list(after["checksums"]) == [after["tables"]["claims"]]  # new files get one


def test_a_previous_version_file_damaged_is_reported_but_the_store_is_healthy(
    seeded: Store, capsys
) -> None:
    _path(seeded, "links", "previous").write_bytes(b"")
    result = seeded.check()
    assert result.healthy
    assert not result.previous_intact
    assert "'links'" in result.previous_problems[0]
    settings = load_settings({"data_dir": seeded.root.parent})
    assert run_store_command(settings, _args(store_command="check")) == 0
    assert "previous version 2: not intact" in capsys.readouterr().out


def test_check_of_a_folder_without_a_store(tmp_path: Path, capsys) -> None:
    result = Store(tmp_path / "store").check()
    assert not result.exists and not result.healthy
    settings = load_settings({"data_dir": tmp_path})
    assert run_store_command(settings, _args(store_command="check")) == 1
    assert "build-default" in capsys.readouterr().out


# ----- hostile manifests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "../outside/links-9.parquet",
        "{outside}/links-9.parquet",  # absolute
        "tables/../../outside/links-9.parquet",
        "tables/records-2.parquet",  # another table's file
        "tables/links-3.parquet/../../../outside/links-9.parquet",
    ],
)
@pytest.mark.parametrize("where", ["tables", "previous"])
def test_manifest_paths_outside_the_tables_folder_are_refused(
    seeded: Store, tmp_path: Path, hostile: str, where: str
) -> None:
    # A perfectly valid links file outside the store: reading it would succeed if it were opened.
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(_path(seeded, "links"), outside / "links-9.parquet")
    body = _manifest(seeded.root)
    body[where]["links"] = hostile.format(outside=outside)
    _write_manifest(seeded.root, body)

    pattern = r"manifest\.json: invalid store manifest: .*table 'links' has path"
    with pytest.raises(StoreError, match=pattern):
        Store.open(seeded.root)
    with pytest.raises(StoreError, match=pattern):
        seeded.rollback("test")
    result = seeded.check()
    assert not result.healthy and "table 'links' has path" in str(result.manifest_problem)


def test_a_table_file_that_is_a_link_out_of_the_store_is_refused(
    seeded: Store, tmp_path: Path
) -> None:
    path = _path(seeded, "links")
    outside = tmp_path / "elsewhere.parquet"
    shutil.copy(path, outside)
    path.unlink()
    path.symlink_to(outside)

    with pytest.raises(StoreError, match=r"manifest\.json: table 'links'.*is a link to .*outside"):
        Store.open(seeded.root)
    result = seeded.check()
    assert len(result.problems) == 1 and "is a link to" in result.problems[0]


# ----- rollback --------------------------------------------------------------------------------


def test_rollback_restores_the_previous_versions_data(seeded: Store, capsys) -> None:
    v3 = _tables(seeded.root)
    seeded.update(lambda snap: {"claims": syn.claims("C1", "C2")}, actor="test")  # version 4
    v4 = _tables(seeded.root)

    settings = load_settings({"data_dir": seeded.root.parent})
    assert run_store_command(settings, _args(store_command="rollback", actor="operator")) == 0
    assert "version 4 -> version 5 (the tables of version 3)" in capsys.readouterr().out
    _assert_same_tables(_tables(seeded.root), v3)
    manifest = _manifest(seeded.root)
    assert (manifest["version"], manifest["actor"]) == (5, "operator")
    assert seeded.check().healthy and seeded.check().previous_intact

    done = seeded.rollback("operator")  # a second rollback undoes the first
    assert (done.from_version, done.to_version, done.restored_version) == (5, 6, 4)
    _assert_same_tables(_tables(seeded.root), v4)


def test_rollback_repairs_a_store_whose_latest_file_is_damaged(seeded: Store) -> None:
    before = _tables(seeded.root)
    _path(seeded, "links").unlink()  # links-3: the curator's edit
    _path(seeded, "audit").write_bytes(b"garbage")

    seeded.rollback("operator")
    assert seeded.check().healthy
    links = Store.open(seeded.root).read("links")
    pd.testing.assert_series_equal(
        links["stance_origin"],
        pd.Series(["suggested"] * 3, name="stance_origin", dtype=links["stance_origin"].dtype),
    )
    assert len(Store.open(seeded.root).read("audit")) == 0
    pd.testing.assert_frame_equal(Store.open(seeded.root).read("records"), before["records"])


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_rollback_is_refused_when_the_previous_files_are_not_intact(
    seeded: Store, damage: str
) -> None:
    previous = _path(seeded, "links", "previous")
    if damage == "missing":
        previous.unlink()
    else:
        previous.write_bytes(previous.read_bytes()[:100])
    before = _files(seeded.root)

    with pytest.raises(
        StoreError,
        match=rf"cannot roll back .* version 2.*'links'.*{previous.name}.*build-default --force",
    ):
        seeded.rollback("operator")
    assert _files(seeded.root) == before


def test_rollback_of_a_new_store_is_refused(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "store")
    with pytest.raises(StoreError, match="version 1 has no previous version"):
        store.rollback("operator")
    assert store.version == 1


# ----- failed commits leave nothing behind -----------------------------------------------------


def _enospc(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@pytest.mark.parametrize("fail_at", ["second table", "manifest", "interrupt"])
def test_a_failed_commit_removes_its_files_and_leaves_the_store_as_it_was(
    seeded: Store, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    files, tables = _files(seeded.root), _tables(seeded.root)
    real_write_table = pq.write_table
    calls = []

    def write_table(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 1:
            return real_write_table(table, where, **kwargs)
        Path(where).write_bytes(b"PAR1 half a file")  # the disk filled up mid-write
        if fail_at == "interrupt":
            raise KeyboardInterrupt
        raise _enospc(where)

    def write_durably(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise _enospc(path)

    if fail_at == "manifest":
        monkeypatch.setattr(store_module, "_write_durably", write_durably)
    else:
        monkeypatch.setattr(store_module.pq, "write_table", write_table)
    change = {"claims": syn.claims("C1", "C2"), "runs": syn.run("run-x", T0)}

    expected = KeyboardInterrupt if fail_at == "interrupt" else StoreError
    with pytest.raises(expected) as raised:
        seeded.update(lambda snap: change, actor="test")
    if expected is StoreError:
        assert "No space left on device" in str(raised.value)
        assert "nothing was changed, the store is still at version 3" in str(raised.value)

    monkeypatch.undo()
    assert _files(seeded.root) == files  # no temp file, no half-committed version-4 file
    _assert_same_tables(_tables(seeded.root), tables)
    assert seeded.check().healthy
    assert seeded.update(lambda snap: change, actor="test") == 4  # and the store still works


def test_an_interrupt_just_after_the_manifest_switch_keeps_the_committed_files(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def replace(src, dst):
        real_replace(src, dst)
        if Path(dst).name == "manifest.json":
            raise KeyboardInterrupt  # after the commit point, before the function returns

    monkeypatch.setattr(store_module.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        seeded.update(lambda snap: {"claims": syn.claims("C1", "C2")}, actor="test")
    monkeypatch.undo()
    assert seeded.version == 4
    assert seeded.check().healthy
    assert list(Store.open(seeded.root).read("claims")["claim_id"]) == ["C1", "C2"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 3 MB tmpfs (needs root and mount rights; skips with the reason otherwise)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the simulated ENOSPC tests cover the clean-up")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({proc.stderr.strip() or proc.returncode}); "
            "the simulated ENOSPC tests cover the clean-up"
        )
    try:
        yield mnt
    finally:
        gc.collect()  # drop memory maps of files on it
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_full_disk_during_a_commit_leaves_the_store_exactly_as_it_was(small_disk: Path) -> None:
    store = Store.create(small_disk / "store")
    recs, _ = upsert_records(
        RECORDS.empty(), syn.records(syn.record(n) for n in range(5)), "run-1", T0
    )
    store.update(lambda snap: {"claims": syn.claims("C1"), "records": recs}, actor="seed")
    files, tables = _files(store.root), _tables(store.root)

    # ~6 MB of incompressible abstracts: cannot fit in what is left of 3 MB.
    big = syn.records(syn.record(n, abstract=os.urandom(1500).hex()) for n in range(5, 2005))
    more, _ = upsert_records(tables["records"], big, "run-2", T0)
    with pytest.raises(StoreError, match="No space left on device.*still at version 2"):
        store.update(lambda snap: {"claims": syn.claims("C1", "C2"), "records": more}, actor="t")

    assert _files(store.root) == files
    _assert_same_tables(_tables(store.root), tables)
    assert store.check().healthy
    assert store.update(lambda snap: {"claims": syn.claims("C1", "C2")}, actor="t") == 3


# ----- build-default --force -------------------------------------------------------------------


def _settings(data_dir: Path):
    return load_settings({"data_dir": data_dir})


def test_build_default_refuses_a_damaged_store_and_force_sets_it_aside(
    data_dir: Path, capsys
) -> None:
    store = build_default_store(data_dir)
    links = store.root / _manifest(store.root)["tables"]["links"]
    links.write_bytes(links.read_bytes()[:200])
    damaged = _files(store.root)

    with pytest.raises(StoreError, match=rf"'links'.*{RECOVERY}"):
        build_default_store(data_dir)
    with pytest.raises(StoreError, match=RECOVERY):
        run_build_default(_settings(data_dir), _args(force=False))
    assert _files(store.root) == damaged

    assert run_build_default(_settings(data_dir), _args(force=True)) == 0
    out = capsys.readouterr().out
    aside = [p for p in data_dir.iterdir() if p.name.startswith("store.damaged-")]
    assert len(aside) == 1 and f"set aside (kept, not deleted): {aside[0]}" in out
    assert _files(aside[0]) == damaged  # every byte kept
    fresh = Store.open(data_dir / "store")
    assert fresh.check().healthy
    assert len(fresh.read("records")) == 67


def test_build_default_force_leaves_a_healthy_store_alone(data_dir: Path, capsys) -> None:
    store = build_default_store(data_dir)
    store.curate("dr-a", "C01", store.read("links")["pmid"].iloc[0], note="SYNTHETIC keep me")
    files = _files(store.root)
    assert run_build_default(_settings(data_dir), _args(force=True)) == 0
    assert "set aside" not in capsys.readouterr().out
    assert _files(store.root) == files
    assert not [p for p in data_dir.iterdir() if p.name.startswith("store.damaged-")]


def test_a_store_without_its_manifest_is_never_built_over(data_dir: Path) -> None:
    store = build_default_store(data_dir)
    (store.root / "manifest.json").unlink()
    damaged = _files(store.root)

    with pytest.raises(StoreError, match=r"no manifest\.json.*damaged.*build-default --force"):
        build_default_store(data_dir)
    with pytest.raises(StoreError, match="holds table files but no manifest.json"):
        Store.create(store.root)
    with pytest.raises(StoreError, match="no previous version|manifest.json is missing"):
        store.rollback("operator")
    assert _files(store.root) == damaged

    moved: list[Path] = []
    build_default_store(data_dir, force=True, on_set_aside=moved.append)
    assert _files(moved[0]) == damaged
    assert Store.open(data_dir / "store").check().healthy


def test_a_store_from_newer_code_is_not_damaged_and_never_set_aside(data_dir: Path, capsys) -> None:
    store = build_default_store(data_dir)
    body = _manifest(store.root)
    body["schema_version"] += 1
    _write_manifest(store.root, body)
    files = _files(store.root)

    result = store.check()
    assert result.needs_upgrade and not result.healthy
    assert run_store_command(_settings(data_dir), _args(store_command="check")) == 1
    assert "upgrade the evidence package" in capsys.readouterr().out
    with pytest.raises(SchemaVersionError, match="upgrade the evidence package"):
        build_default_store(data_dir, force=True)
    assert _files(store.root) == files
    assert [p.name for p in data_dir.iterdir() if p.name.startswith("store")] == ["store"]


def test_bad_bundled_data_with_force_moves_nothing(data_dir: Path) -> None:
    store = build_default_store(data_dir)
    _path(store, "links").unlink()
    damaged = _files(store.root)
    (data_dir / "corpus" / "curated_evidence.jsonl").write_text("{not json\n")
    with pytest.raises(Exception, match="curated_evidence.jsonl"):
        build_default_store(data_dir, force=True)
    assert _files(store.root) == damaged


# ----- argument parsing ------------------------------------------------------------------------


def test_store_commands_parse(tmp_path: Path) -> None:
    ap = argparse.ArgumentParser(prog="evidence")
    sub = ap.add_subparsers(dest="command", required=True)
    add_store_commands(sub)
    add_build_default_options(sub.add_parser("build-default"))

    args = ap.parse_args(["store", "check", "--data-dir", str(tmp_path)])
    assert (args.command, args.store_command, args.sub_data_dir) == ("store", "check", tmp_path)
    args = ap.parse_args(["store", "rollback"])
    assert (args.store_command, args.actor) == ("rollback", "cli rollback")
    assert ap.parse_args(["build-default", "--force"]).force
    with pytest.raises(SystemExit):
        ap.parse_args(["store"])

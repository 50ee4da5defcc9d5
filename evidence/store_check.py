"""Store recovery: verify every table file, roll back to the previous version, set a store aside.

A refresh that runs unattended for years will one day meet a truncated file, a lost file or a bad
sector. `check_store` names each damaged file without needing any of them to be readable;
`rollback` recommits the previous version's files (kept one commit for slow readers, verified
first); `set_aside` moves a store nobody can repair out of the way, so a fresh one can be built,
and never deletes anything.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import StoreError
from .schema import SCHEMA_VERSION, TABLES
from .store import (
    MANIFEST,
    Manifest,
    Store,
    TableFileError,
    _fsync_dir,
    _open_table,
    damage_hint,
    evidence_command,
    has_table_files,
    link_outside,
    ordered_parts,
    table_files,
)

__all__ = ["FileCheck", "Rollback", "StoreCheck", "check_store", "rollback", "set_aside"]

_CHECK_RETRIES = 5


@dataclass(frozen=True)
class FileCheck:
    """One table file named by the manifest: fine (``problem`` None) or what is wrong with it."""

    name: str  # the table; a partitioned table has one file per PMID range
    path: str  # as the manifest names it, relative to the store root
    problem: str | None = None
    rows: int | None = None
    checksum_verified: bool = False  # False for files committed before checksums were recorded

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class StoreCheck:
    """The state of a store: its manifest, the current version's files and the previous ones."""

    root: Path
    exists: bool  # a manifest or table files are there (False: no store at all)
    version: int | None = None  # None when the manifest is missing or unreadable
    manifest_problem: str | None = None
    tables: tuple[FileCheck, ...] = ()
    previous: tuple[FileCheck, ...] = ()  # empty when there is no previous version
    previous_missing: tuple[str, ...] = ()  # tables the previous version has no file for
    needs_upgrade: bool = False  # written by a newer schema version: not damaged, just newer

    @property
    def problems(self) -> list[str]:
        """Everything wrong with the current version (empty = healthy)."""
        return ([self.manifest_problem] if self.manifest_problem else []) + _damaged(self.tables)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def previous_version(self) -> int | None:
        return self.version - 1 if self.version is not None and self.previous else None

    @property
    def previous_problems(self) -> list[str]:
        """Why a rollback to the previous version would be refused (empty = it is intact)."""
        if self.previous_version is None:
            return ["there is no previous version"]
        missing = [f"no file for table {name!r}" for name in self.previous_missing]
        return missing + _damaged(self.previous)

    @property
    def previous_intact(self) -> bool:
        return not self.previous_problems


@dataclass(frozen=True)
class Rollback:
    """What `rollback` did: version `from_version` -> `to_version`, holding `restored_version`."""

    root: Path
    from_version: int
    to_version: int
    restored_version: int


def check_store(store: Store) -> StoreCheck:
    """Verify every file the manifest names: present, inside the store, unchanged (sha256), a
    readable Parquet file of the right table, schema version and columns, every row decodable.

    Lock-free like any reader: when a problem may come from a commit retiring files meanwhile
    (the manifest moved on), the check is repeated on the new version.
    """
    result = _check_once(store.root)
    for _ in range(_CHECK_RETRIES):
        if result.healthy and (result.previous_intact or not result.previous):
            break
        if _current_version(store.root) == result.version:
            break
        result = _check_once(store.root)
    return result


def verify_file(
    root: Path, name: str, rel: str, schema_version: int, checksum: str | None
) -> FileCheck:
    """Check one table file completely; any damage becomes `problem`, nothing is raised.

    Decoding comes before the checksum so a truncated file is called unreadable, the more
    useful diagnosis; the checksum then catches a valid file swapped or altered in place.
    """
    path = root / rel
    outside = link_outside(root, path)
    if outside:
        return FileCheck(name, rel, outside)
    if not path.is_file():
        return FileCheck(name, rel, "file is missing")
    try:
        pf = _open_table(name, path, schema_version, schema_version == SCHEMA_VERSION)
    except FileNotFoundError:
        return FileCheck(name, rel, "file is missing")
    except TableFileError as e:
        return FileCheck(name, rel, e.reason)
    except Exception as e:  # a footer damaged in a way the checks above do not name
        return FileCheck(name, rel, f"cannot be opened ({type(e).__name__}: {e})")
    try:
        expected = pf.metadata.num_rows
        rows = sum(pf.read_row_group(i).num_rows for i in range(pf.num_row_groups))
    except Exception as e:  # whatever a damaged file makes the decoder raise is damage to report
        return FileCheck(name, rel, f"data cannot be decoded ({type(e).__name__}: {e})")
    finally:
        pf.close()
    if rows != expected:
        return FileCheck(name, rel, f"holds {rows} rows, but its footer says {expected}")
    if checksum is not None:
        try:
            with open(path, "rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as e:
            return FileCheck(name, rel, f"cannot be read ({e})")
        if actual != checksum:
            return FileCheck(
                name,
                rel,
                f"changed after it was committed (sha256 {actual[:12]}..., "
                f"the manifest recorded {checksum[:12]}...)",
            )
    return FileCheck(name, rel, rows=rows, checksum_verified=checksum is not None)


def verify_table(
    root: Path, name: str, rel: str, schema_version: int, checksums: Mapping[str, str]
) -> list[FileCheck]:
    """Check every file of one table as a manifest names it: its one file, or its partition
    index (present, unchanged, well formed) and then each range the index lists."""
    if not rel.endswith(".json"):
        return [verify_file(root, name, rel, schema_version, checksums.get(rel))]
    try:
        index = table_files(root, rel, name, checksums.get(rel))
    except FileNotFoundError:
        return [FileCheck(name, rel, "file is missing")]
    except TableFileError as e:
        return [FileCheck(name, rel, e.reason)]
    return [
        verify_file(root, name, file, schema_version, index.checksums.get(file))
        for file in (index.files[p] for p in ordered_parts(index.files))
    ]


def rollback(store: Store, actor: str) -> Rollback:
    """Commit a new version whose tables are the previous version's files, verified first.

    Needs nothing of the current version's files, so it repairs a store whose latest commit is
    damaged. Under the store lock and atomic like any commit; the current files become the new
    version's ``previous``, so a second rollback undoes the first.
    """
    if not actor or not actor.strip():
        raise ValueError("a rollback needs an actor")
    with store._locked():
        manifest = store._read_manifest()
        path = store.root / MANIFEST
        if manifest.schema_version != SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {manifest.schema_version}, expected {SCHEMA_VERSION}; "
                "open the store once to migrate it before rolling back"
            )
        if not manifest.previous:
            raise StoreError(
                f"{path}: version {manifest.version} has no previous version to return to; "
                f"{damage_hint(store.root, rollback=False)}"
            )
        problems = [f"no file for table {t!r}" for t in TABLES if t not in manifest.previous]
        for name, rel in manifest.previous.items():
            for found in verify_table(store.root, name, rel, SCHEMA_VERSION, manifest.checksums):
                if found.problem:
                    problems.append(f"table {name!r}: {found.path}: {found.problem}")
        if problems:
            rebuild = evidence_command(store.root, "build-default --force")
            raise StoreError(
                f"cannot roll back {store.root} to version {manifest.version - 1}: its files are "
                f"not intact ({'; '.join(problems)}); nothing was changed. Set the store aside "
                f"and build a fresh one with {rebuild}"
            )
        committed = store._commit(manifest, {}, actor=actor, base=manifest.previous)
    return Rollback(store.root, manifest.version, committed.version, manifest.version - 1)


def set_aside(root: Path, *, lock_timeout: float = 30.0) -> Path:
    """Rename the store folder to ``<name>.damaged-<UTC time>`` beside it; nothing is deleted.

    Taken under the store lock, so no commit is cut in half by the move.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = root.with_name(f"{root.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = root.with_name(f"{root.name}.damaged-{stamp}-{n}")
    with Store(root, lock_timeout)._locked():
        try:
            os.rename(root, target)
        except OSError as e:  # e.g. the store folder is itself a mount point
            raise StoreError(
                f"cannot move the damaged store {root} aside to {target} ({e}); move or rename "
                f"it yourself, then run {evidence_command(root, 'build-default')}"
            ) from e
    _fsync_dir(root.parent)
    return target


def _damaged(files: tuple[FileCheck, ...]) -> list[str]:
    return [f"table {f.name!r}: {f.path}: {f.problem}" for f in files if f.problem]


def _current_version(root: Path) -> int | None:
    try:
        return Manifest.read(root / MANIFEST).version
    except (OSError, StoreError):
        return None


def _check_once(root: Path) -> StoreCheck:
    manifest_path = root / MANIFEST
    try:
        manifest = Manifest.read(manifest_path)
    except FileNotFoundError:
        if has_table_files(root):
            return StoreCheck(root, True, manifest_problem=f"{manifest_path} is missing")
        return StoreCheck(root, False, manifest_problem=f"no evidence store at {root}")
    except (OSError, StoreError) as e:
        return StoreCheck(root, True, manifest_problem=str(e))
    if manifest.schema_version > SCHEMA_VERSION:
        problem = (
            f"{manifest_path}: written by schema version {manifest.schema_version}, but this "
            f"code knows up to {SCHEMA_VERSION}; upgrade the evidence package"
        )
        return StoreCheck(root, True, manifest.version, problem, needs_upgrade=True)

    seen: dict[tuple[str, str, int], list[FileCheck]] = {}

    def verify(name: str, rel: str, schema_version: int) -> list[FileCheck]:
        key = (name, rel, schema_version)  # a table unchanged since the previous version
        if key not in seen:
            seen[key] = verify_table(root, name, rel, schema_version, manifest.checksums)
        return seen[key]

    order = [*TABLES, *sorted(set(manifest.tables) | set(manifest.previous))]
    names = list(dict.fromkeys(order))
    current = tuple(
        f
        for n in names
        if n in manifest.tables
        for f in verify(n, manifest.tables[n], manifest.schema_version)
    )
    previous = tuple(
        f
        for n in names
        if n in manifest.previous
        for f in verify(n, manifest.previous[n], SCHEMA_VERSION)
    )
    missing = tuple(t for t in TABLES if manifest.previous and t not in manifest.previous)
    return StoreCheck(root, True, manifest.version, None, current, previous, missing)

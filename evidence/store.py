"""The Parquet store: copy-on-write snapshots of every table, committed by one manifest switch.

Layout: ``manifest.json`` names one Parquet file per table (``tables/<name>-<version>.parquet``).
A commit writes only the tables it changes, to new files, then atomically replaces the manifest;
that replace is the single commit point, so a crash at any moment leaves the old or the new state
and a reader never sees a half-written table. Writers serialise on a file lock and re-read the
latest snapshot inside it (`Store.update`), so a curator edit made during a refresh is merged,
never lost. Files of the previous version are kept one more commit for readers still on it, and
for `Store.rollback`; the manifest records each file's sha256 so `Store.check` can tell a file
changed behind the store's back. A commit that fails (a full disk) removes what it wrote. The
manifest is not trusted either: every path it names must be ``tables/<table>-<n>.parquet``.
Recovery (check, rollback, setting a damaged store aside) lives in `store_check`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from .errors import SchemaVersionError, StoreError
from .merges import (
    append_audit,
    apply_curation,
    mark_dropped_links,
    replace_rows,
    upsert_links,
    upsert_records,
)
from .schema import SCHEMA_VERSION, TABLES, Table

if TYPE_CHECKING:
    from .store_check import Rollback, StoreCheck

__all__ = [
    "MIGRATIONS",
    "Snapshot",
    "Store",
    "append_audit",
    "mark_dropped_links",
    "migrate_tables",
    "replace_rows",
    "upsert_links",
    "upsert_records",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TABLES_DIR = "tables"
LOCK_FILE = ".lock"
FORMAT = "evidence-store"
COMPRESSION = "zstd"
META_SCHEMA_VERSION = b"evidence.schema_version"
META_TABLE = b"evidence.table"
# For "there is no store here" only; a damaged store gets `damage_hint` (build-default refuses it).
BUILD_HINT = "build one with `evidence build-default` (bundled data) or `evidence refresh` (PubMed)"
# The only form a manifest may give a table file: not absolute, no "..", nothing outside tables/.
TABLE_PATH = re.compile(r"tables/(?P<name>[a-z][a-z0-9_]*)-(?P<version>[0-9]+)\.parquet")
_SHA256 = re.compile(r"[0-9a-f]{64}")

# Tables whose rows may never disappear (by key), and the one that may only grow at its end.
NEVER_DELETED = {"records": ("pmid",), "links": ("claim_id", "pmid")}
APPEND_ONLY = ("audit",)

Migration = Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]
# MIGRATIONS[n] turns the tables of a schema-version-n store into schema version n + 1.
MIGRATIONS: dict[int, Migration] = {}

_OPEN_RETRIES = 5


def evidence_command(root: Path, command: str) -> str:
    """`evidence ... <command>` as an operator can paste it for the store at `root`."""
    if root.name == "store":  # Settings.store_dir is always <data dir>/store
        return f"`evidence --data-dir {shlex.quote(str(root.parent))} {command}`"
    return f"`evidence {command}`"


def damage_hint(root: Path, *, rollback: bool) -> str:
    """What to run when the store at `root` is damaged (a plain build-default would fail too)."""
    back = (
        f", then {evidence_command(root, 'store rollback')} to return to the previous version"
        if rollback
        else ""
    )
    return (
        f"run {evidence_command(root, 'store check')} to see what is damaged{back}, or "
        f"{evidence_command(root, 'build-default --force')} to set the damaged store aside "
        "(it is kept, not deleted) and build a fresh one from the bundled data"
    )


def rollback_may_help(root: Path, manifest: Manifest, damaged: Path | None = None) -> bool:
    """Whether to suggest `store rollback`: the previous version's files are all there and the
    damaged file is not one of them. A cheap guess (nothing is read); rollback verifies."""
    files = [root / rel for rel in manifest.previous.values()]
    return (
        all(t in manifest.previous for t in TABLES)
        and all(f.is_file() for f in files)
        and (damaged is None or damaged not in files)
    )


def has_table_files(root: Path) -> bool:
    """Whether `root` holds committed-looking table files (a store, even without its manifest)."""
    try:
        return any(p.suffix == ".parquet" for p in (root / TABLES_DIR).iterdir())
    except OSError:
        return False


def migrate_tables(
    tables: dict[str, pd.DataFrame],
    from_version: int,
    migrations: Mapping[int, Migration] | None = None,
) -> dict[str, pd.DataFrame]:
    """Upgrade raw tables step by step from `from_version` to SCHEMA_VERSION."""
    steps = MIGRATIONS if migrations is None else migrations
    for version in range(from_version, SCHEMA_VERSION):
        if version not in steps:
            raise SchemaVersionError(
                f"no migration from schema version {version} to {version + 1}; "
                f"this code reads versions {min(steps, default=SCHEMA_VERSION)}..{SCHEMA_VERSION}"
            )
        tables = steps[version](dict(tables))
    return tables


@dataclass(frozen=True)
class Manifest:
    """What one committed version consists of; ``previous`` lists files kept for slow readers.

    ``checksums`` maps a file path (of this or the previous version) to its sha256; manifests
    written before checksums existed have none, and their files are checked without one.
    """

    schema_version: int
    version: int
    tables: dict[str, str]
    committed_at: str
    actor: str
    previous: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"format": FORMAT, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise StoreError(f"{path}: unreadable store manifest ({e})") from e
        try:
            if body.get("format") != FORMAT:
                raise ValueError(f"format is {body.get('format')!r}, expected {FORMAT!r}")
            manifest = cls(
                schema_version=int(body["schema_version"]),
                version=int(body["version"]),
                tables={str(k): str(v) for k, v in body["tables"].items()},
                committed_at=str(body["committed_at"]),
                actor=str(body["actor"]),
                previous={str(k): str(v) for k, v in body.get("previous", {}).items()},
                checksums={str(k): str(v) for k, v in body.get("checksums", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StoreError(f"{path}: invalid store manifest ({e})") from e
        if manifest.schema_version > SCHEMA_VERSION:
            return manifest  # never opened: Store refuses it with "upgrade the evidence package"
        named = [("table", manifest.tables), ("previous version's table", manifest.previous)]
        for kind, files in named:
            for name, rel in files.items():
                match = TABLE_PATH.fullmatch(rel)
                if match is None or match["name"] != name:
                    raise StoreError(
                        f"{path}: invalid store manifest: {kind} {name!r} has path {rel!r}, but "
                        f"only {TABLES_DIR}/{name}-<version>.parquet inside the store is allowed"
                    )
        for rel, digest in manifest.checksums.items():
            if TABLE_PATH.fullmatch(rel) is None or _SHA256.fullmatch(digest) is None:
                raise StoreError(f"{path}: invalid store manifest: bad checksum entry {rel!r}")
        if manifest.schema_version == SCHEMA_VERSION:
            missing = [t for t in TABLES if t not in manifest.tables]
            if missing:
                raise StoreError(f"{path}: invalid store manifest (no file for tables {missing})")
            unknown = [t for t in manifest.tables if t not in TABLES]
            if unknown:
                raise StoreError(f"{path}: invalid store manifest (unknown tables {unknown})")
        return manifest


class Snapshot(Mapping[str, pd.DataFrame]):
    """All tables as of one committed version; ``snap["links"]`` reads (and caches) a table.

    The table files are opened (memory-mapped) when the snapshot is taken, so later commits and
    their clean-up cannot pull a file from under it.
    """

    def __init__(
        self, manifest: Manifest, files: dict[str, pq.ParquetFile], paths: dict[str, Path]
    ):
        self.manifest = manifest
        self._files = files
        self._paths = paths
        self._arrow: dict[str, pa.Table] = {}
        self._frames: dict[str, pd.DataFrame] = {}

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def schema_version(self) -> int:
        return self.manifest.schema_version

    @property
    def committed_at(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest.committed_at)

    def arrow(self, name: str) -> pa.Table:
        if name not in self._files:
            raise KeyError(name)
        if name not in self._arrow:
            try:
                self._arrow[name] = self._files[name].read()
            except (OSError, pa.ArrowException) as e:
                raise self._unreadable(name, e) from e
        return self._arrow[name]

    def key_frame(self, name: str, columns: list[str]) -> pd.DataFrame:
        """Just some columns of a table, without decoding the rest (cheap for 100k records)."""
        if name in self._frames:
            return self._frames[name][columns]
        if name in self._arrow:
            return Table.from_arrow(self._arrow[name].select(columns))
        try:
            return Table.from_arrow(self._files[name].read(columns=columns))
        except (OSError, pa.ArrowException) as e:
            raise self._unreadable(name, e) from e

    def _unreadable(self, name: str, error: Exception) -> StoreError:
        path = self._paths[name]
        root = path.parent.parent
        return StoreError(
            f"table {name!r}: cannot read {path} ({error}); "
            f"{damage_hint(root, rollback=rollback_may_help(root, self.manifest, path))}"
        )

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = Table.from_arrow(self.arrow(name))
        # A shallow copy: under pandas copy-on-write, a caller's edits never reach the cache.
        return self._frames[name].copy(deep=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def close(self) -> None:
        """Release the open files early (they are also released when the snapshot is dropped)."""
        for pf in self._files.values():
            pf.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Snapshot version={self.version} tables={list(self._files)}>"


class Store:
    """A directory of Parquet tables with atomic multi-table commits; see the module docstring.

    ``Store(root)`` opens and checks nothing: use it to `check` or `rollback` a damaged store,
    which `Store.open` refuses.
    """

    def __init__(self, root: Path, lock_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout

    # ----- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> Store:
        """A new store holding every table, empty; refuses to overwrite an existing one."""
        store = cls(Path(path), lock_timeout)
        (store.root / TABLES_DIR).mkdir(parents=True, exist_ok=True)
        with store._locked():
            if store._manifest_path.exists():
                raise StoreError(f"{store.root}: a store already exists here")
            if has_table_files(store.root):
                # Committing version 1 here would garbage-collect the old files: refuse.
                raise StoreError(
                    f"{store.root}: holds table files but no {MANIFEST}, so it is a damaged "
                    f"store; {damage_hint(store.root, rollback=False)}"
                )
            empty = Manifest(SCHEMA_VERSION, 0, {}, "", "")
            frames = {name: table.to_arrow(table.empty()) for name, table in TABLES.items()}
            store._commit(empty, frames, actor="create")
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> Store:
        """Open an existing store, migrating an older schema version; checks every table file."""
        store = cls(Path(path), lock_timeout)
        if not store._manifest_path.exists():
            raise store._no_manifest()
        manifest = store._read_manifest()
        if manifest.schema_version < SCHEMA_VERSION:
            store._migrate()
        store.snapshot()
        return store

    # ----- reading -------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The latest committed version (read from disk, so it shows other processes' commits)."""
        return self._read_manifest().version

    def snapshot(self) -> Snapshot:
        """A consistent view of all tables at the latest committed version."""
        for _ in range(_OPEN_RETRIES):
            manifest = self._read_manifest()
            try:
                return self._open_snapshot(manifest)
            except _Vanished as e:
                # A commit may have retired the files between reading the manifest and opening
                # them; only if the manifest still names the file is it truly missing.
                if self._read_manifest().version == manifest.version:
                    raise StoreError(
                        f"table {e.name!r}: file {e.path} is missing (named by version "
                        f"{manifest.version} of {self._manifest_path}); "
                        f"{self._damage_hint(manifest, e.path)}"
                    ) from None
        raise StoreError(f"{self.root}: tables kept changing while being opened; try again")

    def read(self, name: str) -> pd.DataFrame:
        """One table at the latest version, with dtypes exactly as `schema.Table.conform` gives."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        return self.snapshot()[name]

    # ----- writing -------------------------------------------------------------------------

    def update(self, fn: Callable[[Snapshot], Mapping[str, pd.DataFrame]], *, actor: str) -> int:
        """Read-modify-write under the store lock; returns the committed version.

        `fn` gets the latest snapshot and returns the full new frames of the tables it changes
        (nothing = no commit). Keep it short and pure: it runs while other writers wait, so do
        slow work (fetching, parsing) before and only merge here. Do not call `update` inside it.
        """
        if not actor or not actor.strip():
            raise ValueError("a store update needs an actor")
        with self._locked():
            snap = self.snapshot()
            if snap.schema_version != SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self._manifest_path}: schema version {snap.schema_version}, expected "
                    f"{SCHEMA_VERSION}; reopen the store with Store.open to migrate it"
                )
            changes = fn(snap)
            if not changes:
                return snap.version
            frames = {name: self._validated(snap, name, df) for name, df in changes.items()}
            return self._commit(snap.manifest, frames, actor=actor).version

    def curate(
        self,
        actor: str,
        claim_id: str,
        pmid: str,
        stance: str | None = None,
        note: str | None = None,
        action: str | None = None,
    ) -> int:
        """A curator's stance and/or note on a link plus its audit row, in one commit."""
        at = pd.Timestamp.now(tz="UTC").floor("us")

        def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
            if not snap["claims"]["claim_id"].eq(claim_id).any():
                raise StoreError(f"unknown claim {claim_id!r}: it is not in the claims table")
            try:
                links, audit_row = apply_curation(
                    snap["links"],
                    snap["records"],
                    actor=actor,
                    claim_id=claim_id,
                    pmid=pmid,
                    at=at,
                    stance=stance,
                    note=note,
                    action=action,
                )
            except ValueError as e:
                raise StoreError(f"curation of claim {claim_id!r} / PMID {pmid}: {e}") from e
            return {"links": links, "audit": append_audit(snap["audit"], [audit_row])}

        return self.update(change, actor=actor)

    # ----- recovery (implemented in store_check) -------------------------------------------

    def check(self) -> StoreCheck:
        """Verify every file the manifest names, current and previous; never raises for damage."""
        from .store_check import check_store

        return check_store(self)

    def rollback(self, actor: str) -> Rollback:
        """Commit a new version made of the previous version's files, once they are verified."""
        from .store_check import rollback

        return rollback(self, actor)

    def set_aside(self) -> Path:
        """Move the whole store folder aside (``<name>.damaged-<time>``); returns where to."""
        from .store_check import set_aside

        return set_aside(self.root, lock_timeout=self.lock_timeout)

    # ----- internals -----------------------------------------------------------------------

    @property
    def _manifest_path(self) -> Path:
        return self.root / MANIFEST

    def _no_manifest(self) -> StoreError:
        if has_table_files(self.root):
            return StoreError(
                f"{self._manifest_path} is missing: the store at {self.root} is damaged; restore "
                f"the manifest from a backup, or {damage_hint(self.root, rollback=False)}"
            )
        return StoreError(f"no evidence store at {self.root}: {BUILD_HINT}")

    def _damage_hint(self, manifest: Manifest, damaged: Path) -> str:
        return damage_hint(self.root, rollback=rollback_may_help(self.root, manifest, damaged))

    def _read_manifest(self) -> Manifest:
        try:
            manifest = Manifest.read(self._manifest_path)
        except FileNotFoundError:
            raise self._no_manifest() from None
        except StoreError as e:
            raise StoreError(f"{e}; {damage_hint(self.root, rollback=False)}") from e
        if manifest.schema_version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self._manifest_path}: written by schema version {manifest.schema_version}, "
                f"but this code knows up to {SCHEMA_VERSION}; upgrade the evidence package"
            )
        return manifest

    def _table_paths(self, manifest: Manifest) -> dict[str, Path]:
        paths = {name: self.root / rel for name, rel in manifest.tables.items()}
        for name, path in paths.items():
            outside = link_outside(self.root, path)
            if outside:
                raise StoreError(
                    f"{self._manifest_path}: table {name!r}: {path} {outside}; "
                    f"{self._damage_hint(manifest, path)}"
                )
        return paths

    def _open_snapshot(self, manifest: Manifest, *, check_schema: bool = True) -> Snapshot:
        paths = self._table_paths(manifest)
        files = {}
        for name, path in paths.items():
            try:
                files[name] = _open_table(name, path, manifest.schema_version, check_schema)
            except FileNotFoundError:
                raise _Vanished(name, path) from None
            except TableFileError as e:
                raise StoreError(f"{e}; {self._damage_hint(manifest, path)}") from e
        return Snapshot(manifest, files, paths)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = FileLock(self.root / LOCK_FILE, timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout as e:
            raise StoreError(
                f"store is locked by another writer: {self.root} (waited {self.lock_timeout:g} s);"
                " try again when the other refresh or edit has finished"
            ) from e
        try:
            yield
        finally:
            lock.release()

    def _validated(self, snap: Snapshot, name: str, df: pd.DataFrame) -> pa.Table:
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        table = TABLES[name]
        try:
            arrow = table.to_arrow(df)
        except (ValueError, TypeError, pa.ArrowException) as e:
            raise StoreError(f"table {name!r}: rows do not fit the schema ({e})") from e
        if table.key:
            dup = df.duplicated(list(table.key), keep=False)
            if dup.any():
                sample = df.loc[dup, list(table.key)].drop_duplicates().head(3).to_dict("records")
                raise StoreError(
                    f"table {name!r}: duplicate {list(table.key)} values, e.g. {sample}"
                )
        if name in NEVER_DELETED:
            key = list(NEVER_DELETED[name])
            old = snap.key_frame(name, key)
            gone = old.merge(df[key].drop_duplicates(), on=key, how="left", indicator=True)
            gone = gone[gone["_merge"] == "left_only"]
            if len(gone):
                sample = gone[key].head(3).to_dict("records")
                raise StoreError(f"table {name!r}: rows are never deleted, but {sample} would be")
        if name in APPEND_ONLY:
            old_arrow = snap.arrow(name)
            head = arrow.slice(0, old_arrow.num_rows)
            if head.num_rows != old_arrow.num_rows or not head.equals(old_arrow):
                raise StoreError(f"table {name!r} is append-only: existing rows were changed")
        return arrow

    def _commit(
        self,
        current: Manifest,
        frames: Mapping[str, pa.Table],
        *,
        actor: str,
        base: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Write `frames` over `base` (default: the current tables) and switch the manifest.

        Call under the lock. If anything fails before the switch (a full disk), the files this
        commit wrote are removed and the store is exactly as it was.
        """
        version = current.version + 1
        tables = dict(current.tables if base is None else base)
        checksums = dict(current.checksums)
        written: list[Path] = []
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.tmp"
        try:
            for name, arrow in frames.items():
                tables[name], checksum = self._write_table(name, version, arrow, written)
                checksums[tables[name]] = checksum
            _fsync_dir(self.root / TABLES_DIR)
            kept = {*tables.values(), *current.tables.values()}
            manifest = Manifest(
                schema_version=SCHEMA_VERSION,
                version=version,
                tables=tables,
                committed_at=pd.Timestamp.now(tz="UTC").isoformat(),
                actor=actor,
                previous=dict(current.tables),
                checksums={rel: c for rel, c in checksums.items() if rel in kept},
            )
            written.append(tmp)
            _write_durably(tmp, manifest.to_json().encode("utf-8"))
            os.replace(tmp, self._manifest_path)  # the commit point
        except BaseException as e:
            self._remove_uncommitted(written, version)
            if isinstance(e, OSError | pa.ArrowException):
                raise StoreError(
                    f"{self.root}: could not commit version {version} ({e}); nothing was "
                    f"changed, the store is still at version {current.version}"
                ) from e
            raise
        _fsync_dir(self.root)
        self._collect_garbage(manifest)
        return manifest

    def _remove_uncommitted(self, written: list[Path], version: int) -> None:
        """Delete a failed commit's files, unless its manifest switch happened after all."""
        try:
            if Manifest.read(self._manifest_path).version >= version:
                return  # committed (e.g. interrupted just after the switch): the files are live
        except FileNotFoundError:
            pass  # a store being created: nothing is committed
        except (OSError, StoreError):
            return  # cannot tell; the next commit's garbage collection removes them
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()

    def _write_table(
        self, name: str, version: int, arrow: pa.Table, written: list[Path]
    ) -> tuple[str, str]:
        """Write one table file durably (temp file, then rename); returns its path and sha256."""
        meta = dict(arrow.schema.metadata or {})
        meta[META_SCHEMA_VERSION] = str(SCHEMA_VERSION).encode()
        meta[META_TABLE] = name.encode()
        arrow = arrow.replace_schema_metadata(meta)
        rel = f"{TABLES_DIR}/{name}-{version}.parquet"
        final = self.root / rel
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        written.append(tmp)
        pq.write_table(arrow, tmp, compression=COMPRESSION)
        with open(tmp, "rb") as fh:
            checksum = hashlib.file_digest(fh, "sha256").hexdigest()
            os.fsync(fh.fileno())
        written.append(final)
        os.replace(tmp, final)
        return rel, checksum

    def _collect_garbage(self, manifest: Manifest) -> None:
        """Remove files neither this version nor the previous one names (incl. killed writers')."""
        keep = {self.root / rel for rel in (*manifest.tables.values(), *manifest.previous.values())}
        candidates = [*(self.root / TABLES_DIR).iterdir(), *self.root.glob(f".{MANIFEST}.*.tmp")]
        for path in candidates:
            if path not in keep and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()

    def _migrate(self) -> None:
        with self._locked():
            manifest = self._read_manifest()
            if manifest.schema_version == SCHEMA_VERSION:
                return  # another process migrated it while we waited
            log.info(
                "migrating store %s from schema version %s", self.root, manifest.schema_version
            )
            try:
                snap = self._open_snapshot(manifest, check_schema=False)
            except _Vanished as e:
                raise StoreError(
                    f"table {e.name!r}: file {e.path} is missing; "
                    f"{damage_hint(self.root, rollback=False)}"
                ) from None
            raw = {name: snap[name] for name in snap}
            tables = migrate_tables(raw, manifest.schema_version)
            missing = [t for t in TABLES if t not in tables]
            if missing:
                raise SchemaVersionError(f"migration left tables {missing} undefined")
            frames = {}
            for name, table in TABLES.items():
                try:
                    frames[name] = table.to_arrow(tables[name])
                except (ValueError, TypeError, pa.ArrowException) as e:
                    raise SchemaVersionError(f"migrated table {name!r} does not fit ({e})") from e
            self._commit(manifest, frames, actor=f"migration from v{manifest.schema_version}")


class TableFileError(StoreError):
    """A table file is there but unusable; `reason` says why without naming table and path."""

    def __init__(self, name: str, path: Path, reason: str) -> None:
        super().__init__(f"table {name!r}: {path} {reason}")
        self.name = name
        self.path = path
        self.reason = reason


class _Vanished(Exception):
    """A table file named by a manifest was not there (maybe retired by a newer commit)."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(f"{name}: {path}")
        self.name = name
        self.path = path


def _open_table(name: str, path: Path, schema_version: int, check_schema: bool) -> pq.ParquetFile:
    """Open and check one table file; FileNotFoundError is left to the caller's retry logic."""
    try:
        pf = pq.ParquetFile(str(path), memory_map=True)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as e:
        raise TableFileError(name, path, f"is not a readable Parquet file ({e})") from e
    try:
        schema = pf.schema_arrow
        meta = schema.metadata or {}
        if meta.get(META_TABLE, name.encode()) != name.encode():
            raise TableFileError(name, path, f"holds table {meta[META_TABLE].decode()!r}")
        file_version = meta.get(META_SCHEMA_VERSION)
        if file_version is None or file_version.decode() != str(schema_version):
            found = file_version.decode(errors="replace") if file_version is not None else None
            raise TableFileError(
                name,
                path,
                f"has schema version {found}, but the manifest says {schema_version}",
            )
        if check_schema:
            _check_schema(name, path, schema)
    except BaseException:
        pf.close()
        raise
    return pf


def _check_schema(name: str, path: Path, schema: pa.Schema) -> None:
    if name not in TABLES:
        raise TableFileError(name, path, "is not a table this code knows")
    expected = TABLES[name].schema
    missing = [f.name for f in expected if f.name not in schema.names]
    extra = [n for n in schema.names if n not in expected.names]
    wrong = [
        f"{f.name} is {schema.field(f.name).type}, expected {f.type}"
        for f in expected
        if f.name in schema.names and not schema.field(f.name).type.equals(f.type)
    ]
    if missing or extra or wrong:
        raise TableFileError(
            name,
            path,
            f"does not match the schema: "
            f"missing columns {missing}, unexpected {extra}, wrong types {wrong}",
        )


def link_outside(root: Path, path: Path) -> str | None:
    """Why `path` (already of the form tables/<file>) escapes `root`/tables via a link, or None."""
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(root / TABLES_DIR):
        return f"is a link to {real}, outside {root / TABLES_DIR}"
    return None


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make renames in `path` durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Registers MIGRATIONS[1] (schema v1 -> v2); at the end: it needs MIGRATIONS defined.
from . import migrations as _migrations  # noqa: E402, F401

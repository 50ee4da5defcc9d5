"""The Parquet store: copy-on-write snapshots of every table, committed by one manifest switch.

Layout: ``manifest.json`` names one file per table. A small table is one Parquet file,
``tables/<name>-<version>.parquet``. A table that grows with the literature (records, tags,
record_changes, record_terms, links) is kept in PMID ranges (`evidence.partitions`), one Parquet
file each, ``tables/<name>-p<lowest PMID>-<version>.parquet``, listed with their sha256 in a
partition index, ``tables/<name>-<version>.json``, which is what the manifest names: so the
manifest stays a few kilobytes however many ranges there are.

A commit writes only the files it changes, to new files, then atomically replaces the manifest;
that replace is the single commit point, so a crash at any moment leaves the old or the new state
and a reader never sees a half-written table. Writers serialise on a file lock and re-read the
latest snapshot inside it (`Store.update`), so a curator edit made during a refresh is merged,
never lost; a change may be given as whole frames or, for a partitioned table, as a `Delta` of
rows, and then only the ranges those rows fall in are read, merged and written. Files of the
previous version are kept one more commit for readers still on it, and for `Store.rollback`; the
manifest records each file's sha256 (an index, each of its ranges') so `Store.check` can tell a
file changed behind the store's back. A commit that fails (a full disk) removes what it wrote.
The manifest and indexes are not trusted either: every path they name must have one of the forms
above, for the table (and range) it is listed under. Recovery (check, rollback, setting a
damaged store aside) lives in `store_check`.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from .errors import SchemaVersionError, StoreError
from .facts import fact_rows
from .merges import (
    append_audit,
    apply_curation,
    mark_dropped_links,
    replace_rows,
    upsert_links,
    upsert_records,
)
from .partitions import FIRST, SINGLE, Delta, Pieces, apply_delta, repartition
from .schema import SCHEMA_VERSION, TABLES, Table

if TYPE_CHECKING:
    from .store_check import Rollback, StoreCheck

__all__ = [
    "MIGRATIONS",
    "Delta",
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
INDEX_FORMAT = "evidence-partitions"
COMPRESSION = "zstd"
META_SCHEMA_VERSION = b"evidence.schema_version"
META_TABLE = b"evidence.table"
# For "there is no store here" only; a damaged store gets `damage_hint` (build-default refuses it).
BUILD_HINT = "build one with `evidence build-default` (bundled data) or `evidence refresh` (PubMed)"
# The only forms a manifest may give a table's file (a partitioned table's may be its index) and
# an index a range's file: not absolute, no "..", nothing outside tables/.
TABLE_PATH = re.compile(
    r"tables/(?P<name>[a-z][a-z0-9_]*)-(?P<version>[0-9]+)\.(?P<kind>parquet|json)"
)
PART_PATH = re.compile(
    r"tables/(?P<name>[a-z][a-z0-9_]*)-p(?P<part>0|[1-9][0-9]*)-(?P<version>[0-9]+)\.parquet"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")

# Tables whose rows may never disappear (by key), and the one that may only grow at its end.
NEVER_DELETED = {"records": ("pmid",), "links": ("claim_id", "pmid")}
APPEND_ONLY = ("audit",)
# A snapshot opens (and so keeps) a table's files when it is taken if there are at most this
# many; a table of more ranges has each opened when first read, so a snapshot of a large store
# costs neither hundreds of open files nor their footers' decoding up front.
EAGER_FILES = 64

Migration = Callable[[dict[str, pd.DataFrame]], dict[str, pd.DataFrame]]
# One table's files: range (lowest PMID, or SINGLE for a table in one file) -> path.
Files = dict[str, str]
# What `Store.update`'s function gives for a table: its whole new frame, or a `Delta`.
Change = pd.DataFrame | Delta
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
    damaged file is not one of them. A cheap guess (indexes are not read); rollback verifies."""
    files = [root / rel for rel in manifest.previous.values()]
    return (
        all(t in manifest.previous for t in TABLES)
        and all(f.is_file() for f in files)
        and (damaged is None or damaged not in files)
    )


def has_table_files(root: Path) -> bool:
    """Whether `root` holds committed-looking table files (a store, even without its manifest)."""
    try:
        return any(p.suffix in (".parquet", ".json") for p in (root / TABLES_DIR).iterdir())
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


def ordered_parts(files: Mapping[str, str]) -> list[str]:
    """A table's ranges in PMID order (a table in one file has the one range SINGLE)."""
    return sorted(files, key=lambda p: -1 if p == SINGLE else int(p))


@dataclass(frozen=True)
class Index:
    """A partitioned table's ranges: range -> file, and each file's sha256."""

    files: Files
    checksums: dict[str, str]

    def to_json(self, name: str) -> str:
        body = {"format": INDEX_FORMAT, "table": name, "files": self.files}
        return json.dumps({**body, "checksums": self.checksums}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def read(cls, root: Path, name: str, rel: str, checksum: str | None = None) -> Index:
        """Read and check the index ``rel`` of table ``name``. FileNotFoundError when it is not
        there; TableFileError for anything else wrong with it (checksum, form, paths)."""
        path = root / rel
        outside = link_outside(root, path)
        if outside:
            raise TableFileError(name, path, outside)
        data = path.read_bytes()
        if checksum is not None and hashlib.sha256(data).hexdigest() != checksum:
            raise TableFileError(name, path, "changed after it was committed (sha256 differs)")
        try:
            body = json.loads(data)
            if body.get("format") != INDEX_FORMAT or body.get("table") != name:
                raise ValueError(f"not the partition index of table {name!r}")
            index = cls(
                files={str(k): str(v) for k, v in body["files"].items()},
                checksums={str(k): str(v) for k, v in body.get("checksums", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise TableFileError(name, path, f"is not a readable partition index ({e})") from e
        if FIRST not in index.files:
            raise TableFileError(name, path, "lists no range starting at PMID 0")
        for part, file in index.files.items():
            match = PART_PATH.fullmatch(file)
            if match is None or match["name"] != name or match["part"] != part:
                raise TableFileError(
                    name,
                    path,
                    f"gives range {part!r} the path {file!r}, but only "
                    f"{TABLES_DIR}/{name}-p{part}-<version>.parquet inside the store is allowed",
                )
            if _SHA256.fullmatch(index.checksums.get(file, "0" * 64)) is None:
                raise TableFileError(name, path, f"has a bad checksum for {file!r}")
        return index


def table_files(root: Path, rel: str, name: str, checksum: str | None = None) -> Index:
    """The files of one table as the manifest names it: its index's ranges, or its one file."""
    if rel.endswith(".json"):
        return Index.read(root, name, rel, checksum)
    return Index({SINGLE: rel}, {rel: checksum} if checksum else {})


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
                partitioned = name in TABLES and TABLES[name].partition_rows > 0
                if (
                    match is None
                    or match["name"] != name
                    or (match["kind"] == "json" and not partitioned)
                ):
                    forms = f"{TABLES_DIR}/{name}-<version>.parquet"
                    if partitioned:
                        forms += f" or {TABLES_DIR}/{name}-<version>.json"
                    raise StoreError(
                        f"{path}: invalid store manifest: {kind} {name!r} has path {rel!r}, but "
                        f"only {forms} inside the store is allowed"
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
    their clean-up cannot pull a file from under it; the ranges of a table of more than
    `EAGER_FILES` files are opened when first read (a snapshot held while two later commits
    rewrite such a range cannot read it, and says to take a new one). Large tables need not be
    read whole: `key_frame` decodes a few columns, `rows` the rows of some PMIDs (only the ranges
    and row groups that can hold them), `batches` one range at a time.
    """

    def __init__(
        self,
        manifest: Manifest,
        root: Path,
        files: dict[str, Files],
        opened: dict[str, dict[str, pq.ParquetFile]],
        checksums: Mapping[str, str] | None = None,
    ):
        self.manifest = manifest
        self._root = root
        self._parts = files
        self._opened = opened
        # sha256 of every range file, from the indexes (a commit keeping a range copies it)
        self.checksums = dict(checksums or {})
        self._arrow: dict[str, pa.Table] = {}
        self._frames: dict[str, pd.DataFrame] = {}
        self._ranges: dict[tuple[str, str], pa.Table] = {}

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def schema_version(self) -> int:
        return self.manifest.schema_version

    @property
    def committed_at(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest.committed_at)

    def parts(self, name: str) -> Files:
        """A table's files by range (SINGLE for a table in one file)."""
        if name not in self._parts:
            raise KeyError(name)
        return dict(self._parts[name])

    def arrow(self, name: str) -> pa.Table:
        """A whole table as Arrow (its ranges in PMID order), cached."""
        if name not in self._arrow:
            self._arrow[name] = _concat([self._read(name, p) for p in self._ordered(name)])
        return self._arrow[name]

    def key_frame(self, name: str, columns: list[str]) -> pd.DataFrame:
        """Just some columns of a table, without decoding the rest (cheap for 100k records)."""
        if name in self._frames:
            return self._frames[name][columns]
        if name in self._arrow:
            return Table.from_arrow(self._arrow[name].select(columns))
        return Table.from_arrow(
            _concat([self._read(name, p, columns) for p in self._ordered(name)])
        )

    def rows(
        self, name: str, pmids: Iterable[str], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The rows of a table whose ``pmid`` is one of ``pmids`` (all columns, or ``columns``).

        Reads only the ranges that can hold them, and in each only the row groups whose PMID
        statistics allow one: a curator's edit or a 100-record refresh reads a few hundred
        kilobytes of a large store, not all of it.
        """
        wanted = sorted({str(p) for p in pmids})
        cols = list(columns) if columns is not None else TABLES[name].columns
        read = cols if "pmid" in cols else [*cols, "pmid"]
        if name in self._arrow:
            return Table.from_arrow(_having(self._arrow[name].select(read), wanted).select(cols))
        found = []
        for part in self._holding(name, wanted):
            if (name, part) in self._ranges:
                found.append(_having(self._ranges[name, part].select(read), wanted))
                continue
            pf = self._file(name, part)
            groups = _groups_holding(pf, wanted)
            if groups and columns is None and len(groups) == pf.metadata.num_row_groups:
                whole = self._ranges[name, part] = self._read(name, part)  # a merge takes it next
                found.append(_having(whole, wanted))
            elif groups:
                try:
                    found.append(_having(pf.read_row_groups(groups, columns=read), wanted))
                except (OSError, pa.ArrowException) as e:
                    raise self._unreadable(name, part, e) from e
        if not found:
            return Table.from_arrow(TABLES[name].schema.empty_table().select(cols))
        return Table.from_arrow(_concat(found).select(cols))

    def batches(self, name: str, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """A table one range at a time (PMID order), so a pass over all records never holds
        them all in memory."""
        for part in self._ordered(name):
            yield Table.from_arrow(self._read(name, part, columns))

    def part(self, name: str, part: str) -> pa.Table:
        """One range of a table as Arrow (SINGLE for a table in one file). A range `rows` read
        whole is handed over (once) rather than read again: a writer reads a range's rows, then
        the range to merge into it."""
        if (name, part) in self._ranges:
            return self._ranges.pop((name, part))
        return self._read(name, part)

    def _ordered(self, name: str) -> list[str]:
        return ordered_parts(self.parts(name))

    def _holding(self, name: str, wanted: list[str]) -> list[str]:
        parts = self._ordered(name)
        if SINGLE in parts:
            return parts
        bounds = [int(p) for p in parts]
        numbers = {int(p) for p in wanted if p.isdigit()}
        return [parts[i] for i in sorted({bisect.bisect_right(bounds, n) - 1 for n in numbers})]

    def _file(self, name: str, part: str) -> pq.ParquetFile:
        opened = self._opened.setdefault(name, {})
        if part not in opened:
            path = self._root / self._parts[name][part]
            try:
                opened[part] = _open_table(name, path, self.schema_version, True)
            except FileNotFoundError:
                raise StoreError(self._gone(name, path)) from None
            except TableFileError as e:
                raise StoreError(f"{e}; {self._hint(path)}") from e
        return opened[part]

    def _gone(self, name: str, path: Path) -> str:
        try:
            latest = Manifest.read(self._root / MANIFEST).version
        except (OSError, StoreError):
            latest = None
        if latest is not None and latest > self.version:
            return (
                f"table {name!r}: file {path} of version {self.version} was retired by later "
                f"commits (the store is at version {latest}); take a new snapshot"
            )
        return (
            f"table {name!r}: file {path} is missing (named by version {self.version}); "
            f"{self._hint(path)}"
        )

    def _read(self, name: str, part: str, columns: list[str] | None = None) -> pa.Table:
        pf = self._file(name, part)
        try:
            return pf.read(columns=columns)
        except (OSError, pa.ArrowException) as e:
            raise self._unreadable(name, part, e) from e

    def _unreadable(self, name: str, part: str, error: Exception) -> StoreError:
        path = self._root / self._parts[name][part]
        return StoreError(f"table {name!r}: cannot read {path} ({error}); {self._hint(path)}")

    def _hint(self, damaged: Path) -> str:
        return damage_hint(
            self._root, rollback=rollback_may_help(self._root, self.manifest, damaged)
        )

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = Table.from_arrow(self.arrow(name))
        # A shallow copy: under pandas copy-on-write, a caller's edits never reach the cache.
        return self._frames[name].copy(deep=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def close(self) -> None:
        """Release the open files early (they are also released when the snapshot is dropped)."""
        for files in self._opened.values():
            for pf in files.values():
                pf.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Snapshot version={self.version} tables={list(self._parts)}>"


def rows_of(
    tables: Mapping[str, pd.DataFrame],
    name: str,
    pmids: Iterable[str],
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The rows of some PMIDs (all columns, or ``columns``) from a snapshot (`Snapshot.rows`:
    only the ranges that hold them are read) or from any mapping of whole frames."""
    reader = getattr(tables, "rows", None)
    if reader is not None:
        return reader(name, pmids, columns)
    df = tables[name]
    df = df[df["pmid"].isin(set(pmids))].reset_index(drop=True)
    return df if columns is None else df[columns]


def _concat(parts: list[pa.Table]) -> pa.Table:
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables([p.replace_schema_metadata(None) for p in parts])


def _having(table: pa.Table, wanted: list[str]) -> pa.Table:
    """The rows whose pmid is in ``wanted``."""
    return table.filter(pc.is_in(table["pmid"], value_set=pa.array(wanted, pa.string())))


def _groups_holding(pf: pq.ParquetFile, wanted: list[str]) -> list[int]:
    """Row groups of ``pf`` whose pmid min/max statistics allow one of ``wanted`` (sorted)."""
    meta = pf.metadata
    if not meta.num_row_groups or not wanted:
        return []
    first = meta.row_group(0)
    column = next(j for j in range(first.num_columns) if first.column(j).path_in_schema == "pmid")
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max:
            groups.append(i)
            continue
        at = bisect.bisect_left(wanted, stats.min)
        if at < len(wanted) and wanted[at] <= stats.max:
            groups.append(i)
    return groups


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
            plans = {
                name: _whole(table, table.to_arrow(table.empty()), None)
                for name, table in TABLES.items()
            }
            store._commit(empty, plans, actor="create")
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

    def update(self, fn: Callable[[Snapshot], Mapping[str, Change]], *, actor: str) -> int:
        """Read-modify-write under the store lock; returns the committed version.

        `fn` gets the latest snapshot and returns, for each table it changes, the full new frame
        or, for a partitioned table (`Table.partition_rows`: records, tags, links, ...), a
        `Delta` of the rows that change: then only the ranges holding them are read and
        rewritten (nothing = no commit). ``record_facts`` follow the records and tags it changes
        unless it gives them. Keep it short and pure: it runs while other writers wait, so do
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
            changes = {k: v for k, v in fn(snap).items() if not _empty(v)}
            if not changes:
                return snap.version
            plans = {name: self._plan(snap, name, change) for name, change in changes.items()}
            facts = _facts_change(snap, changes)  # once the changes passed the checks
            if facts is not None:
                plans["record_facts"] = self._plan(snap, "record_facts", facts)
            return self._commit(snap.manifest, plans, actor=actor, known=snap.checksums).version

    def curate(
        self,
        actor: str,
        claim_id: str,
        pmid: str,
        stance: str | None = None,
        note: str | None = None,
        action: str | None = None,
    ) -> int:
        """A curator's stance and/or note (``links.curator_note``) on a link plus its audit row,
        in one commit. The dashboard's edits go through `evidence.curation`, which also regrades
        the claim and records its verdict in the same commit."""
        at = pd.Timestamp.now(tz="UTC").floor("us")

        def change(snap: Snapshot) -> dict[str, Change]:
            if not snap["claims"]["claim_id"].eq(claim_id).any():
                raise StoreError(f"unknown claim {claim_id!r}: it is not in the claims table")
            links, audit_row = curated_links(
                snap, actor, claim_id, pmid, at=at, stance=stance, note=note, action=action
            )
            mine = links[links["claim_id"].eq(claim_id) & links["pmid"].eq(pmid)]
            return {"links": Delta(mine), "audit": append_audit(snap["audit"], [audit_row])}

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

    def _open_snapshot(self, manifest: Manifest, *, check_schema: bool = True) -> Snapshot:
        files: dict[str, Files] = {}
        opened: dict[str, dict[str, pq.ParquetFile]] = {}
        checksums: dict[str, str] = {}
        try:
            for name, rel in manifest.tables.items():
                top = self.root / rel
                outside = link_outside(self.root, top)
                if outside:
                    raise StoreError(
                        f"{self._manifest_path}: table {name!r}: {top} {outside}; "
                        f"{self._damage_hint(manifest, top)}"
                    )
                try:
                    index = table_files(self.root, rel, name, manifest.checksums.get(rel))
                except FileNotFoundError:
                    raise _Vanished(name, top) from None
                except TableFileError as e:
                    raise StoreError(f"{e}; {self._damage_hint(manifest, top)}") from e
                files[name] = index.files
                checksums.update(index.checksums)
                if len(files[name]) > EAGER_FILES:
                    continue  # opened range by range when read
                opened[name] = {}
                for part, file in files[name].items():
                    path = self.root / file
                    try:
                        pf = _open_table(name, path, manifest.schema_version, check_schema)
                    except FileNotFoundError:
                        raise _Vanished(name, path) from None
                    except TableFileError as e:
                        raise StoreError(f"{e}; {self._damage_hint(manifest, path)}") from e
                    opened[name][part] = pf
        except BaseException:
            for pfs in opened.values():
                for pf in pfs.values():
                    pf.close()
            raise
        return Snapshot(manifest, self.root, files, opened, checksums)

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

    def _plan(
        self, snap: Snapshot, name: str, change: Change
    ) -> dict[str, pa.Table | str | Pieces]:
        """A table's files after ``change``: partition -> rows to write, or the kept file's path.

        A whole frame is checked against the store's rules (`_validated`) and written whole; a
        `Delta` of a partitioned table reads and rewrites only the partitions it touches.
        """
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")
        table = TABLES[name]
        try:
            if not isinstance(change, Delta):
                return _whole(table, self._validated(snap, name, change), snap)
            if not table.partition_rows:
                raise StoreError(f"table {name!r} is not partitioned: give its whole new frame")
            if change.replace and name in NEVER_DELETED:
                raise StoreError(
                    f"table {name!r}: rows are never deleted, but a change replaces some"
                )
            upsert = self._fitted(name, change.upsert)
            return apply_delta(
                snap.parts(name), lambda part: snap.part(name, part), table, upsert, change.replace
            )
        except ValueError as e:  # a PMID that is not a number cannot be placed in a range
            raise StoreError(f"table {name!r}: {e}") from e

    def _fitted(self, name: str, df: pd.DataFrame) -> pa.Table:
        """Rows coerced to the table's schema, their keys unique; StoreError naming what is not."""
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
        return arrow

    def _validated(self, snap: Snapshot, name: str, df: pd.DataFrame) -> pa.Table:
        """A whole new frame, checked: schema, unique keys, nothing deleted, audit only grown."""
        arrow = self._fitted(name, df)
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
        plans: Mapping[str, Mapping[str, pa.Table | str | Pieces]],
        *,
        actor: str,
        base: Mapping[str, str] | None = None,
        known: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Write the tables of `plans` over `base` (default: the current tables), then switch
        the manifest. A plan gives each range of a table its rows, the call that makes them (a
        merge, `partitions.apply_delta`), or a kept file's path (whose sha256 ``known`` gives); a
        partitioned table gets a new index listing its ranges.

        Call under the lock. If anything fails before the switch (a full disk), the files this
        commit wrote are removed and the store is exactly as it was.
        """
        version = current.version + 1
        tables = dict(current.tables if base is None else base)
        checksums = dict(current.checksums)
        written: list[Path] = []
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.tmp"
        try:
            jobs = {
                (name, part): (self._write_range, (name, part, item, version, written))
                for name, plan in plans.items()
                for part, item in plan.items()
                if not isinstance(item, str)
            }
            done = _all_done(jobs)  # (table, range) -> {range as written: (path, sha256)}
            indexes = {}
            for name, plan in plans.items():
                if not TABLES[name].partition_rows:
                    tables[name], checksums[tables[name]] = done[(name, SINGLE)][SINGLE]
                    continue
                files: Files = {}
                sums: dict[str, str] = {}
                for part, item in plan.items():
                    if isinstance(item, str):
                        written_now = {part: (item, (known or {}).get(item))}
                    else:
                        written_now = done[(name, part)]
                    for piece, (rel, checksum) in written_now.items():
                        files[piece] = rel
                        if checksum is not None:
                            sums[rel] = checksum
                data = Index(files, sums).to_json(name).encode("utf-8")
                indexes[name] = (self._write_file, (f"{name}-{version}.json", data, written))
            for name, (rel, checksum) in _all_done(indexes).items():
                tables[name] = rel
                checksums[rel] = checksum
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

    def _write_range(
        self, name: str, part: str, item: pa.Table | Pieces, version: int, written: list[Path]
    ) -> dict[str, tuple[str, str]]:
        """Write a range given as rows, or as the call that merges them (and may split them):
        range -> (path, sha256) of each file written."""
        pieces = item() if callable(item) else {part: item}
        out = {}
        for piece in list(pieces):
            out[piece] = self._write_table(name, piece, version, pieces.pop(piece), written)
        pa.default_memory_pool().release_unused()  # a commit of many ranges stays small
        return out

    def _write_table(
        self, name: str, part: str, version: int, arrow: pa.Table, written: list[Path]
    ) -> tuple[str, str]:
        """Write one table file durably (temp file, then rename); returns its path and sha256.

        A range is written in row groups of a quarter of its largest size (at least 128 rows,
        sorted by PMID), so `Snapshot.rows` decodes only the groups that can hold the PMIDs
        asked for.
        """
        meta = dict(arrow.schema.metadata or {})
        meta[META_SCHEMA_VERSION] = str(SCHEMA_VERSION).encode()
        meta[META_TABLE] = name.encode()
        arrow = arrow.replace_schema_metadata(meta)
        stem = name if part == SINGLE else f"{name}-p{part}"
        rel = f"{TABLES_DIR}/{stem}-{version}.parquet"
        final = self.root / rel
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        written.append(tmp)
        group = max(128, TABLES[name].partition_rows // 4) if name in TABLES else None
        pq.write_table(arrow, tmp, compression=COMPRESSION, row_group_size=group)
        with open(tmp, "rb") as fh:
            checksum = hashlib.file_digest(fh, "sha256").hexdigest()
            os.fsync(fh.fileno())
        written.append(final)
        os.replace(tmp, final)
        return rel, checksum

    def _write_file(self, filename: str, data: bytes, written: list[Path]) -> tuple[str, str]:
        """Write a small file (an index) durably under tables/; returns its path and sha256."""
        rel = f"{TABLES_DIR}/{filename}"
        final = self.root / rel
        tmp = final.with_name(f".{filename}.{os.getpid()}.tmp")
        written.append(tmp)
        _write_durably(tmp, data)
        written.append(final)
        os.replace(tmp, final)
        return rel, hashlib.sha256(data).hexdigest()

    def _collect_garbage(self, manifest: Manifest) -> None:
        """Remove files neither this version nor the previous one names (incl. killed writers').

        A range is kept while an index of either version lists it; when an index cannot be read
        nothing is removed (what it lists cannot be told), `store check` will say why.
        """
        keep = set()
        for name, rel in (*manifest.tables.items(), *manifest.previous.items()):
            keep.add(self.root / rel)
            try:
                keep.update(self.root / f for f in table_files(self.root, rel, name).files.values())
            except (OSError, StoreError):
                return
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
            plans = {}
            for name, table in TABLES.items():
                try:
                    plans[name] = _whole(table, table.to_arrow(tables[name]), None)
                except (ValueError, TypeError, pa.ArrowException) as e:
                    raise SchemaVersionError(f"migrated table {name!r} does not fit ({e})") from e
            self._commit(manifest, plans, actor=f"migration from v{manifest.schema_version}")


def curated_links(
    snap: Snapshot,
    actor: str,
    claim_id: str,
    pmid: str,
    *,
    at: pd.Timestamp,
    stance: str | None,
    note: str | None,
    action: str | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The links after a curator's stance and/or note, and the audit row, without decoding
    any record: only a new link needs to know its record is stored (read from its PMID range)."""
    links = snap["links"]
    linked = (links["claim_id"].eq(claim_id) & links["pmid"].eq(pmid)).any()
    stored = links.iloc[0:0][["pmid"]] if linked else snap.rows("records", [pmid], ["pmid"])
    try:
        return apply_curation(
            links,
            stored,
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


def _all_done(calls: Mapping[Any, tuple[Callable[..., Any], tuple[Any, ...]]]) -> dict[Any, Any]:
    """key -> fn(*args) for every call, run on a few threads (encoding, hashing and fsync release
    the GIL, so a commit's files are written side by side). Every call has finished when this
    returns or raises (a failed commit then removes whatever they wrote); the first error wins."""
    if len(calls) <= 1:
        return {key: fn(*args) for key, (fn, args) in calls.items()}
    with ThreadPoolExecutor(max_workers=min(2, len(calls))) as pool:
        futures = {key: pool.submit(fn, *args) for key, (fn, args) in calls.items()}
        wait(list(futures.values()))
    return {key: future.result() for key, future in futures.items()}


def _facts_change(snap: Snapshot, changes: Mapping[str, Change]) -> Change | None:
    """The ``record_facts`` of the records and tags ``changes`` change, unless they give them:
    the facts follow records and tags whoever writes them (`evidence.facts`)."""
    if "record_facts" in changes or not {"records", "tags"} & changes.keys():
        return None
    records, tags = changes.get("records"), changes.get("tags")
    columns = ["pmid", "pub_year", "retracted"]
    if not isinstance(records, Delta | None) or not isinstance(tags, Delta | None):
        # a whole table: every record's facts again (a writer of whole tables pays for them)
        return fact_rows(
            _after(snap.key_frame("records", columns), records, TABLES["records"])[columns],
            _after(snap["tags"], tags, TABLES["tags"]),
        )
    pmids = set(records.upsert["pmid"]) if records is not None else set()
    if tags is not None:
        pmids |= set(tags.upsert["pmid"]) | tags.replace
    return Delta(
        fact_rows(
            _after(snap.rows("records", pmids, columns), records, TABLES["records"])[columns],
            _after(snap.rows("tags", pmids), tags, TABLES["tags"]),
        ),
        replace=pmids,
    )


def _empty(change: Change) -> bool:
    """A `Delta` that changes nothing (no rows, nothing replaced): no commit needs it."""
    return isinstance(change, Delta) and change.upsert.empty and not change.replace


def _after(stored: pd.DataFrame, change: Change | None, table: Table) -> pd.DataFrame:
    """Stored rows as ``change`` leaves them (a whole frame replaces them)."""
    if change is None:
        return stored
    if not isinstance(change, Delta):
        return change
    kept = stored[~stored["pmid"].isin(change.replace)]
    rows = change.upsert[list(stored.columns)] if len(change.upsert) else None
    return replace_rows(kept, rows, table.key) if rows is not None else kept


def _whole(table: Table, arrow: pa.Table, snap: Snapshot | None) -> dict[str, pa.Table | str]:
    """The files of a table given whole: one, or its ranges (cut where ``snap``'s were), each
    range whose rows ``snap`` already holds kept as that file rather than written again."""
    if not table.partition_rows:
        return {SINGLE: arrow}
    parts = snap.parts(table.name) if snap is not None else {FIRST: ""}
    out: dict[str, pa.Table | str] = {}
    for part, rows in repartition(parts, table, arrow).items():
        same = snap is not None and part in parts and snap.part(table.name, part).equals(rows)
        out[part] = parts[part] if same else rows
    return out


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

"""PMID-range partitions of the tables that grow with the literature, and changes given as rows.

records, tags, record_changes and record_terms hold a row or a few per PubMed record; rewriting
them whole made a 100-record refresh cost as much as the whole store. Each is kept in PMID ranges:
a partition is named by the lowest PMID it may hold and holds every row whose PMID lies between
its name and the next partition's. The first, "0", always exists (an empty table is one empty
partition). A partition that outgrows ``Table.partition_rows`` is cut, always between two PMIDs,
never through one PMID's rows: the top one into full ranges plus the rest (new PMIDs are the
largest, so the full ranges below stay as written), any other into equal halves (room to take
late records without splitting again at once). A refresh so rewrites the top range plus those of
the older records it brought or changed. Ranges adapt to where PMIDs fall (real PMIDs cluster in
recent years), which fixed buckets would not.

Pure functions over Arrow tables; `evidence.store` reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .schema import Table

__all__ = ["FIRST", "SINGLE", "Delta", "apply_delta", "lows", "merge", "repartition"]

FIRST = "0"  # the lowest partition, which every partitioned table has
SINGLE = ""  # a table in one file: unpartitioned tables, and stores written before partitions
_SEP = "\x1f"  # joins the columns of a composite key; never part of a PMID, tag or run id

Kept = TypeVar("Kept")


@dataclass(frozen=True)
class Delta:
    """A change to a partitioned table given as the rows that change, not the whole table.

    Rows of ``upsert`` replace stored rows with the same key; the others are added. First, every
    stored row of a PMID in ``replace`` is removed: for rows recomputed as a set, like a record's
    machine tags. `Store.update` reads, merges and writes only the partitions these PMIDs are in.
    """

    upsert: pd.DataFrame
    replace: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "replace", frozenset(self.replace))


def lows(parts: Collection[str]) -> list[int]:
    """The partitions' lower PMIDs, ascending, always starting at 0 (a single file holds all)."""
    return sorted({0, *(int(p) for p in parts if p != SINGLE)})


def pmid_numbers(pmids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """PMIDs as integers, to place them in ranges; ValueError naming one that is not a number."""
    try:
        numbers = pc.cast(pmids, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        bad = next((p for p in pmids.to_pylist() if p is not None and not p.isdigit()), "?")
        raise ValueError(f"PMID {bad!r} is not a number") from e
    if numbers.null_count:
        raise ValueError("a row has no PMID")
    return np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.int64)


def ordered(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Rows by PMID as a number, then by the rest of the key: one order for every partition."""
    numbers = pa.array(pmid_numbers(table["pmid"]))
    rest = [(c, "ascending") for c in key if c != "pmid"]
    sort = table.append_column("__pmid", numbers).sort_by([("__pmid", "ascending"), *rest])
    return sort.drop_columns(["__pmid"])


def _keys(table: pa.Table, key: Sequence[str]) -> pa.Array:
    """One string per row for its key (composite keys joined), for set membership."""
    columns = [table[c].combine_chunks() for c in key]
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(
        *columns, _SEP, null_handling="replace", null_replacement="\x00"
    )


def merge(
    old: pa.Table, upsert: pa.Table, replace: Collection[str], key: Sequence[str]
) -> pa.Table:
    """``old`` with every row of a PMID in ``replace`` dropped and ``upsert`` merged by ``key``."""
    old, upsert = old.replace_schema_metadata(None), upsert.replace_schema_metadata(None)
    drop = pc.is_in(_keys(old, key), value_set=_keys(upsert, key))
    if replace:
        gone = pc.is_in(old["pmid"], value_set=pa.array(sorted(replace), pa.string()))
        drop = pc.or_(drop, gone)
    kept = old.filter(pc.invert(pc.fill_null(drop, False)))
    return ordered(pa.concat_tables([kept, upsert.cast(kept.schema)]), key)


def split(table: pa.Table, low: int, max_rows: int, *, top: bool) -> dict[int, pa.Table]:
    """An ordered range cut to at most ``max_rows`` rows a range, by lowest PMID: the ``top``
    range into full ranges plus the rest, another into equal parts. Cuts fall between PMIDs."""
    rows = table.num_rows
    if rows <= max_rows:
        return {low: table}
    numbers = pmid_numbers(table["pmid"])
    step = max_rows if top else -(-rows // -(-rows // max_rows))
    starts = [0]
    cut = step
    while cut < rows:
        start = int(np.searchsorted(numbers, numbers[cut], side="left"))
        if start <= starts[-1]:  # one PMID's rows fill a whole range: cut after them
            start = int(np.searchsorted(numbers, numbers[cut], side="right"))
        if start >= rows:
            break
        starts.append(start)
        cut = start + step
    ends = [*starts[1:], rows]
    return {
        (low if i == 0 else int(numbers[s])): table.slice(s, e - s)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    }


def repartition(parts: Collection[str], table: Table, arrow: pa.Table) -> dict[str, pa.Table]:
    """A whole table cut at the table's present ranges; oversized ones split, empty ones (but
    the first) dropped, so its PMIDs fall to the range below."""
    bounds = lows(parts)
    arrow = ordered(arrow.replace_schema_metadata(None), table.key)
    where = np.searchsorted(bounds, pmid_numbers(arrow["pmid"]), side="right") - 1
    out: dict[str, pa.Table] = {}
    for i, low in enumerate(bounds):
        start, end = np.searchsorted(where, [i, i + 1], side="left")
        if end > start or low == 0:
            piece = arrow.slice(int(start), int(end - start))
            top = i == len(bounds) - 1
            cut = split(piece, low, table.partition_rows, top=top)
            out.update({str(k): v for k, v in cut.items()})
    return out


Pieces = Callable[[], dict[str, pa.Table]]


def apply_delta(
    parts: Mapping[str, Kept],
    read: Callable[[str], pa.Table],
    table: Table,
    upsert: pa.Table,
    replace: Collection[str] = (),
) -> dict[str, Kept | Pieces]:
    """The table's partitions after a delta: untouched ones as they were (``parts``' values),
    each touched one as a call that reads it (``read(part)``), merges the delta's rows into it
    and returns it split when oversized (none when it emptied). The calls are left to the writer,
    so a commit holds a few ranges in memory at a time, not every range it rewrites."""
    if SINGLE in parts:  # one file from before partitions: merge it whole, write it as ranges
        return {FIRST: partial(_whole_file, read, table, upsert, frozenset(replace))}
    bounds = lows(parts)
    where = np.searchsorted(bounds, pmid_numbers(upsert["pmid"]), side="right") - 1
    gone = sorted(replace)
    gone_where = (
        np.searchsorted(bounds, pmid_numbers(pa.array(gone, pa.string())), side="right") - 1
    )
    touched = {*where.tolist(), *gone_where.tolist()}
    out: dict[str, Kept | Pieces] = {}
    for i, low in enumerate(bounds):
        name = str(low)
        if i not in touched:
            out[name] = parts[name]
            continue
        mine = upsert.filter(pa.array(where == i))
        mine_gone = [g for g, w in zip(gone, gone_where.tolist(), strict=True) if w == i]
        top = i == len(bounds) - 1
        out[name] = partial(_merged, read, table, name, mine, mine_gone, top)
    return out


def _merged(
    read: Callable[[str], pa.Table],
    table: Table,
    name: str,
    upsert: pa.Table,
    replace: Collection[str],
    top: bool,
) -> dict[str, pa.Table]:
    merged = merge(read(name), upsert, replace, table.key)
    low = int(name)
    if not merged.num_rows and low != 0:
        return {}  # an emptied range: its PMIDs fall to the range below
    return {str(k): v for k, v in split(merged, low, table.partition_rows, top=top).items()}


def _whole_file(
    read: Callable[[str], pa.Table], table: Table, upsert: pa.Table, replace: frozenset[str]
) -> dict[str, pa.Table]:
    return repartition((), table, merge(read(SINGLE), upsert, replace, table.key))

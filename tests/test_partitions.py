"""PMID-range partitions: where rows go, how a delta merges, when and where a range splits."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pytest

from evidence.partitions import apply_delta, lows, merge, pmid_numbers, repartition, split
from evidence.schema import RECORD_TERMS, TAGS

TERMS = replace(RECORD_TERMS, partition_rows=4)


def _terms(*pmids: int) -> pa.Table:
    """record_terms rows, one per PMID (the smallest partitioned table to build by hand)."""
    n = len(pmids)
    if not n:
        return RECORD_TERMS.schema.empty_table()
    rows = {"pmid": [str(p) for p in pmids], "length": [10] * n, "terms": [["tms"]] * n}
    return RECORD_TERMS.to_arrow(pd.DataFrame({**rows, "counts": [[1]] * n}))


def _pmids(table: pa.Table) -> list[int]:
    return [int(p) for p in table["pmid"].to_pylist()]


def _written(plan: dict) -> dict:
    """A delta's plan as the store writes it: each touched range's merge run, its pieces."""
    out = {}
    for part, item in plan.items():
        out.update(item() if callable(item) else {part: item})
    return out


def test_pmids_order_as_numbers_and_a_non_number_is_named() -> None:
    assert pmid_numbers(pa.array(["9", "10", "123"])).tolist() == [9, 10, 123]
    with pytest.raises(ValueError, match="PMID 'x12' is not a number"):
        pmid_numbers(pa.array(["1", "x12"]))
    assert lows(["", "0", "300", "20"]) == [0, 20, 300]


def test_the_top_range_splits_into_full_ranges_and_the_rest() -> None:
    parts = split(_terms(*range(1, 11)), 0, 4, top=True)
    assert {low: _pmids(t) for low, t in parts.items()} == {
        0: [1, 2, 3, 4],
        5: [5, 6, 7, 8],
        9: [9, 10],
    }


def test_a_lower_range_splits_into_equal_parts() -> None:
    parts = split(_terms(*range(1, 6)), 0, 4, top=False)
    assert {low: _pmids(t) for low, t in parts.items()} == {0: [1, 2, 3], 4: [4, 5]}


def test_a_split_never_cuts_through_one_pmids_rows() -> None:
    df = pd.DataFrame(
        {
            "pmid": ["1", "2", "2", "2", "2", "3"],
            "tag": ["a", "a", "b", "c", "d", "a"],
            "kind": "topic",
            "origin": "mesh",
            "confidence": 1.0,
            "value": "",
        }
    )
    parts = split(TAGS.to_arrow(df), 0, 3, top=True)
    assert {low: _pmids(t) for low, t in parts.items()} == {0: [1], 2: [2, 2, 2, 2], 3: [3]}


def test_repartition_keeps_ranges_drops_empty_ones_but_the_first() -> None:
    out = repartition(["0", "5", "100"], TERMS, _terms(7, 1, 6))
    assert {k: _pmids(v) for k, v in out.items()} == {"0": [1], "5": [6, 7]}
    assert {k: _pmids(v) for k, v in repartition(["0"], TERMS, _terms()).items()} == {"0": []}


def test_a_delta_reads_and_rewrites_only_the_ranges_it_touches() -> None:
    stored = {"0": _terms(1, 2), "10": _terms(10, 11, 12), "20": _terms(20, 21)}
    read: list[str] = []

    def reader(part: str) -> pa.Table:
        read.append(part)
        return stored[part]

    kept = {part: f"file-{part}" for part in stored}
    out = _written(apply_delta(kept, reader, TERMS, _terms(11, 25)))
    assert sorted(read) == ["10", "20"]
    assert out["0"] == "file-0"  # untouched: kept as the same file
    assert _pmids(out["10"]) == [10, 11, 12] and _pmids(out["20"]) == [20, 21, 25]


def test_a_delta_that_overflows_a_range_splits_it() -> None:
    out = _written(apply_delta({"0": "f0"}, lambda part: _terms(1, 2, 3, 4), TERMS, _terms(5, 6)))
    assert {k: _pmids(v) for k, v in out.items()} == {"0": [1, 2, 3, 4], "5": [5, 6]}


def test_replace_drops_every_stored_row_of_a_pmid_first() -> None:
    def tags(rows: list[tuple[str, str]]) -> pa.Table:
        df = pd.DataFrame(rows, columns=["pmid", "tag"])
        return TAGS.to_arrow(df.assign(kind="design", origin="text_rule", confidence=1.0, value=""))

    old = tags([("1", "cohort"), ("1", "case report"), ("2", "cohort")])
    new = merge(old, tags([("1", "randomized controlled trial")]), {"1"}, TAGS.key)
    assert list(zip(new["pmid"].to_pylist(), new["tag"].to_pylist(), strict=True)) == [
        ("1", "randomized controlled trial"),
        ("2", "cohort"),
    ]


def test_a_table_from_before_partitions_is_merged_whole_and_written_as_ranges() -> None:
    out = _written(apply_delta({"": "one-file"}, lambda part: _terms(1, 2, 3), TERMS, _terms(9, 8)))
    assert {k: _pmids(v) for k, v in out.items()} == {"0": [1, 2, 3, 8], "9": [9]}

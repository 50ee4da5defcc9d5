"""What grading reads of a record: its year, its retraction and its best design, sample-size and
indirectness tags, as the ``record_facts`` table keeps them, one row a record.

A verdict needs these of its linked records only; read from records and tags they cost a visit to
every PMID range holding a linked record, read from ``record_facts`` one or two small files. The
store keeps the table in step with records and tags on every commit (`Store.update`), whoever
writes them, so a verdict never misses a retraction.
"""

from __future__ import annotations

import pandas as pd

from .cells import as_text
from .schema import RECORD_FACTS

__all__ = ["FACT_KINDS", "ORIGIN_PRIORITY", "best_tags", "fact_rows"]

# When several tags of one kind disagree for a record, the first origin here wins.
ORIGIN_PRIORITY = ("curator", "publication_type", "mesh", "text_rule", "rubric")
# record_facts column <- (tag kind, the tag column that holds the fact)
FACT_KINDS = {
    "design": ("design", "tag"),
    "sample_size": ("sample_size", "value"),
    "indirect": ("indirect", "value"),
}


def best_tags(tags: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One tag per record for a kind, the highest-priority origin winning."""
    sub = tags[tags["kind"] == kind]
    if sub.empty:
        return sub
    rank = sub["origin"].map({o: i for i, o in enumerate(ORIGIN_PRIORITY)}).fillna(99)
    return sub.assign(_rank=rank).sort_values(["pmid", "_rank"]).drop_duplicates("pmid")


def fact_rows(records: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """``record_facts`` rows of every record of ``records`` (pmid, pub_year, retracted) and every
    PMID ``tags`` tags: its year and retraction, and its best tag of each kind grading reads."""
    n = len(records)
    base = pd.DataFrame(
        {
            "pmid": records["pmid"].astype(str).to_numpy(),
            "pub_year": records["pub_year"] if "pub_year" in records.columns else [None] * n,
            "retracted": records["retracted"] if "retracted" in records.columns else [False] * n,
        }
    )
    best = {
        column: best_tags(tags, kind).set_index("pmid")[field]
        for column, (kind, field) in FACT_KINDS.items()
    }
    tagged = {p for values in best.values() for p in values.index}
    pmids = pd.Index(base["pmid"]).union(pd.Index(sorted(tagged))).unique()
    out = base.set_index("pmid").reindex(pmids)
    for column, values in best.items():
        out[column] = values.reindex(pmids)
    out["indirect"] = out["indirect"].where(out["indirect"].isna(), out["indirect"].map(as_text))
    out["retracted"] = out["retracted"].fillna(False).astype(bool)
    return RECORD_FACTS.conform(out.rename_axis("pmid").reset_index())

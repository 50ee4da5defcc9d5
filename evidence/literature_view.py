"""The literature page: one light row per stored record, its search and filters, studies per
year by topic and the design distribution.

Pure functions over a store snapshot (only the columns needed are decoded); the Streamlit page
lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .cells import as_list
from .views import columns


@dataclass(frozen=True)
class LiteratureFilter:
    text: str = ""  # words that must all appear in title, journal, MeSH or keywords
    topics: tuple[str, ...] = ()
    designs: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    mesh: str = ""  # a MeSH descriptor, matched case-insensitively
    retracted: bool | None = None
    has_abstract: bool | None = None


LITERATURE_COLUMNS = [
    "pmid",
    "title",
    "journal",
    "year",
    "authors",
    "design",
    "topics",
    "mesh",
    "retracted",
    "has_abstract",
    "claims",
    "pubmed_url",
]


def literature_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One light row per record (no abstracts), for searching and charting the whole store."""
    tags, links = tables["tags"], tables["links"]
    records = columns(
        tables,
        "records",
        ["pmid", "title", "journal", "pub_year", "authors", "mesh", "retracted", "abstract"],
    )
    designs = _best_design(tags)
    topics = tags[tags["kind"].eq("topic")].groupby("pmid")["tag"].agg(lambda t: sorted(set(t)))
    claims_of = (
        links[~links["stance"].eq("irrelevant")]
        .groupby("pmid")["claim_id"]
        .agg(lambda c: ", ".join(sorted(set(c))))
    )
    pmids = records["pmid"]
    abstract = records["abstract"].fillna("")
    out = pd.DataFrame(
        {
            "pmid": pmids,
            "title": records["title"].fillna(""),
            "journal": records["journal"].fillna(""),
            "year": records["pub_year"],
            "authors": [_first_author(a) for a in records["authors"]],
            "design": pmids.map(designs).fillna("other"),
            "topics": [", ".join(t) for t in pmids.map(topics).map(as_list)],
            "mesh": ["; ".join(_mesh_descriptors(m)) for m in records["mesh"]],
            "retracted": records["retracted"].fillna(False).astype(bool),
            "has_abstract": abstract.str.strip().ne(""),
            "claims": pmids.map(claims_of).fillna(""),
            "pubmed_url": "https://pubmed.ncbi.nlm.nih.gov/" + pmids + "/",
        }
    )
    return out.reset_index(drop=True)


def filter_literature(table: pd.DataFrame, f: LiteratureFilter) -> pd.DataFrame:
    """Rows of `literature_table` matching every set part of the filter."""
    keep = np.ones(len(table), dtype=bool)
    if f.text.strip():
        hay = (table["title"] + " " + table["journal"] + " " + table["mesh"]).str.lower()
        for word in f.text.lower().split():
            keep &= hay.str.contains(word, regex=False).to_numpy()
    if f.topics:
        wanted = set(f.topics)
        keep &= table["topics"].map(lambda t: bool(wanted & set(t.split(", ")))).to_numpy(bool)
    if f.designs:
        keep &= table["design"].isin(f.designs).to_numpy()
    if f.years is not None:
        lo, hi = f.years
        keep &= table["year"].between(lo, hi).fillna(False).to_numpy(bool)
    if f.mesh.strip():
        term = f.mesh.strip().lower()
        keep &= table["mesh"].str.lower().map(lambda m: term in m.split("; ")).to_numpy(bool)
    if f.retracted is not None:
        keep &= table["retracted"].eq(f.retracted).to_numpy()
    if f.has_abstract is not None:
        keep &= table["has_abstract"].eq(f.has_abstract).to_numpy()
    return table[keep]


def studies_per_year(table: pd.DataFrame) -> pd.DataFrame:
    """Counts per (year, topic); a record with several topics counts once under each."""
    rows = table[["year", "topics"]].dropna(subset=["year"])
    rows = rows.assign(topic=rows["topics"].replace("", "untagged").str.split(", ")).explode(
        "topic"
    )
    if rows.empty:
        return pd.DataFrame({"year": [], "topic": [], "studies": []})
    out = rows.groupby(["year", "topic"]).size().rename("studies").reset_index()
    out["year"] = out["year"].astype(int)
    return out


def design_distribution(table: pd.DataFrame) -> pd.DataFrame:
    counts = table["design"].value_counts().rename_axis("design").rename("studies")
    return counts.reset_index()


def mesh_vocabulary(table: pd.DataFrame) -> list[str]:
    terms = {t for m in table["mesh"] if m for t in m.split("; ")}
    return sorted(terms, key=str.lower)


def _best_design(tags: pd.DataFrame) -> pd.Series:
    from .facts import ORIGIN_PRIORITY

    sub = tags[tags["kind"].eq("design")]
    if sub.empty:
        return pd.Series(dtype=object)
    rank = sub["origin"].map({o: i for i, o in enumerate(ORIGIN_PRIORITY)}).fillna(99)
    best = sub.assign(_r=rank).sort_values(["pmid", "_r"]).drop_duplicates("pmid")
    return best.set_index("pmid")["tag"]


def _mesh_descriptors(mesh: Any) -> list[str]:
    return [str(m["descriptor"]) for m in as_list(mesh) if m and m.get("descriptor")]


def _first_author(authors: Any) -> str:
    names = as_list(authors)
    if not names:
        return ""
    return f"{names[0]} et al." if len(names) > 1 else str(names[0])


# The literature table as a reader sees it: the PubMed link (shown as the PMID) first.
SHOWN_COLUMNS = [
    "pubmed_url",
    "title",
    "year",
    "design",
    "claims",
    "authors",
    "journal",
    "topics",
    "retracted",
    "has_abstract",
]


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    return table[SHOWN_COLUMNS]


def linked_claims(claims: str) -> list[str]:
    """The claim ids of a row's "Linked claims" cell ("C01, C03")."""
    return [c for c in (claims or "").split(", ") if c]

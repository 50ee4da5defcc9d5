"""SYNTHETIC rows for store tests: clearly fake PMIDs (98xxxxxx) and titles, no real evidence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from evidence.schema import CLAIMS, LINKS, RECORD_FIELDS, RUNS

PMID_BASE = 98_000_000


def pmid(n: int) -> str:
    return str(PMID_BASE + n)


def record(n: int, *, source: str = "efetch", revision: int = 0, **fields: Any) -> dict[str, Any]:
    """One parsed record; `revision` changes title and hash, as a PubMed correction would."""
    row: dict[str, Any] = {
        "pmid": pmid(n),
        "title": f"SYNTHETIC test record {n}" + (f" (rev {revision})" if revision else ""),
        "abstract": f"SYNTHETIC abstract of test record {n}. " * 12,
        "abstract_sections": [{"label": "SYNTHETIC", "category": "UNASSIGNED", "text": "x"}],
        "journal": "SYNTHETIC Journal",
        "journal_iso": "Synth J",
        "volume": "1",
        "issue": "1",
        "pages": str(n),
        "pub_year": 2020,
        "pub_date": "2020-01",
        "pub_date_text": "2020 Jan",
        "epub_date": None,
        "entrez_date": "2020-01-02",
        "authors": ["Synthetic A", "Synthetic B"],
        "doi": None,
        "pmcid": None,
        "languages": ["eng"],
        "publication_types": ["Journal Article"],
        "mesh": [{"descriptor": "Humans", "ui": "D006801", "major": False, "qualifiers": []}],
        "keywords": ["synthetic"],
        "citation_status": "MEDLINE",
        "retracted": False,
        "retraction_notices": [],
        "expression_of_concern": False,
        "concern_notices": [],
        "errata": [],
        "article_kind": "journal",
        "source": source,
        "content_hash": f"synthetic-{n}-{revision}",
    }
    row.update(fields)
    return row


def records(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=RECORD_FIELDS.names)


def claims(*claim_ids: str) -> pd.DataFrame:
    rows = [
        {
            "claim_id": c,
            "statement": f"SYNTHETIC claim {c}",
            "quote": "SYNTHETIC quote",
            "topics": ["synthetic"],
            "query": "synthetic[tiab]",
            "content_file": "synthetic.md",
            "quote_start": 0,
            "quote_end": 15,
        }
        for c in claim_ids
    ]
    return CLAIMS.conform(pd.DataFrame(rows, columns=CLAIMS.columns))


def link(claim_id: str, n: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "claim_id": claim_id,
        "pmid": pmid(n),
        "relevance": 0.5,
        "stance": "unassessed",
        "stance_origin": "unassessed",
        "stance_confidence": None,
        "stance_evidence": None,
        "note": None,
        "curator_note": None,
        "direct": True,
        "indirect_because": "",
        "in_latest_query": True,
        "first_linked_run": "run-1",
        "updated_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "updated_by": "synthetic-refresh",
    }
    row.update(fields)
    return row


def links(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return LINKS.conform(pd.DataFrame(list(rows), columns=LINKS.columns))


def run(run_id: str, at: pd.Timestamp) -> pd.DataFrame:
    row = {c: None for c in RUNS.columns}
    row.update(run_id=run_id, started_at=at, ended_at=at, status="success", mode="offline")
    row["queries"] = []
    return RUNS.conform(pd.DataFrame([row], columns=RUNS.columns))

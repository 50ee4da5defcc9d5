"""An editor's file into the store: curated JSONL/CSV or a PubMed .nbib export, one path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .claims import claims_frame
from .curated import read_curated
from .errors import ParseError
from .pipeline import (
    Batch,
    apply_batch,
    changed_rows,
    registry_for,
    run_row,
    stored_pmids,
    without_unchanged,
)
from .pmids import check_pmid
from .pubmed import PubMed
from .records import parse_medline, parse_pubmed_xml, records_frame
from .settings import Settings
from .store import Snapshot, Store

NBIB_SUFFIXES = (".nbib", ".txt", ".medline")


def import_file(settings: Settings, path: Path, actor: str) -> str:
    """Validate ``path`` fully, then fold it into the store in one commit; returns a summary.

    Every kind of file is read and checked to the end before the store is opened, so a bad one
    (not UTF-8, a malformed PMID, a bad row) raises `ParseError` and writes nothing.
    """
    if not path.is_file():
        raise ParseError(str(path), "no such file")
    registry = registry_for(settings.data_dir)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    run_id = f"import-{now:%Y%m%dT%H%M%SZ}"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".csv"):
        curated = read_curated(path, set(registry.claim_ids), now=now, run_id=run_id)
        batch = Batch(records=curated.records, links=curated.links, curator_tags=curated.tags)
        mode = "curated import"
    elif suffix in NBIB_SUFFIXES:
        batch = Batch(records=records_frame(parse_medline(path)))
        mode = "nbib import"
    else:
        raise ParseError(str(path), "expected .jsonl, .csv (curated) or .nbib/.txt (PubMed format)")
    if batch.records.empty:
        # e.g. an empty export, or a CSV with only its header: say so rather than "imported 0"
        raise ParseError(str(path), "no records found in the file")
    batch.topic_queries = {k: t.query for k, t in registry.topics.items()}
    batch.claims = claims_frame(registry)
    batch.registry = registry
    exists = (settings.store_dir / "manifest.json").exists()
    store = Store.open(settings.store_dir) if exists else Store.create(settings.store_dir)
    counts: dict[str, int] = {}

    def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
        todo = without_unchanged(batch, snap)
        counts["new"] = counts["links"] = 0
        if not (len(todo.records) or len(todo.links) or len(todo.curator_tags)):
            return {}  # nothing new: importing the same file twice changes nothing
        frames = apply_batch(snap, todo, run_id, now)
        pmids = set(changed_rows(frames, "records")["pmid"])
        counts["new"] = len(pmids - stored_pmids(snap, pmids))
        counts["links"] = len(frames["links"]) - len(snap["links"])
        frames["runs"] = pd.concat(
            [snap["runs"], run_row(run_id, now, now, mode=mode, new_records=counts["new"])],
            ignore_index=True,
        )
        return frames

    version = store.update(change, actor=actor)
    return (
        f"imported {len(batch.records)} records from {path} ({counts['new']} new, "
        f"{counts['links']} new links); store version {version}"
    )


def fetch_pmids(
    settings: Settings, pmids: list[str], actor: str, *, interactive: bool = False
) -> set[str]:
    """Fetch PMIDs the store lacks from PubMed and fold them in; returns those PubMed knew.

    For an editor attaching a study the searches did not find. Same path as the refresh:
    efetch, parse, `apply_batch` in one commit. Raises `FetchError` when PubMed cannot be
    reached (`HostUnreachable`, at once when ``interactive``) and `ParseError` for a malformed
    PMID (the store is unchanged).
    """
    for pmid in pmids:
        check_pmid(pmid, "PMID to fetch")  # the one rule, before anything goes to NCBI
    client = PubMed(settings, interactive=interactive)
    rows = [row for body in client.efetch_ids(pmids) for row in parse_pubmed_xml(body)]
    found = {r["pmid"] for r in rows}
    if not found:
        return found
    registry = registry_for(settings.data_dir)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    run_id = f"fetch-{now:%Y%m%dT%H%M%SZ}"
    batch = Batch(
        records=records_frame(rows),
        checked=set(pmids),
        topic_queries={k: t.query for k, t in registry.topics.items()},
        registry=registry,
    )

    def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
        frames = apply_batch(snap, batch, run_id, now)
        row = run_row(
            run_id,
            now,
            now,
            mode="editor fetch",
            queries=[f"efetch {','.join(pmids)}"],
            network_requests=client.stats.network,
            cache_hits=client.stats.cache_hits,
            new_records=len(found - stored_pmids(snap, found)),
        )
        frames["runs"] = pd.concat([snap["runs"], row], ignore_index=True)
        return frames

    Store.open(settings.store_dir).update(change, actor=actor)
    return found

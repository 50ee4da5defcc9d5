"""Fold a batch of evidence into the store's tables: one pure function, used by every path.

The curated import, the weekly refresh and an editor's nbib import all end in `apply_batch`,
which merges records (upsert by PMID, changes recorded), re-tags what changed, scores relevance,
adds candidate links without touching a curator's judgement, suggests stances for unassessed
links, and grades every claim. It runs inside `Store.update`, on the latest snapshot, so a
curator's edit committed while a refresh was fetching is merged, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .claims import Registry, claims_frame, load_claims
from .curated import read_curated
from .merges import mark_dropped_links, replace_rows, upsert_links, upsert_records
from .relevance import DEFAULT_THRESHOLD, candidate_links, score_relevance
from .schema import LINKS, RECORD_CHANGES, RECORDS, RUNS, TAGS, VERDICTS
from .stance import suggest_stance
from .store import Snapshot, Store
from .tagging import tag_records
from .verdict import grade_claims, verdicts_frame

DEFAULT_CORPUS = Path("corpus") / "curated_evidence.jsonl"


@dataclass
class Batch:
    """What one run brings: parsed records, curator links/tags, query hits per claim."""

    records: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    links: pd.DataFrame = field(default_factory=LINKS.empty)
    curator_tags: pd.DataFrame = field(default_factory=TAGS.empty)
    claims: pd.DataFrame | None = None
    topic_queries: Mapping[str, str] = field(default_factory=dict)
    # PMIDs asked of PubMed this run, found or not: their last check is now. Records from other
    # sources (curated, nbib) keep their last check, so a refresh knows to fetch them.
    checked: set[str] = field(default_factory=set)
    # claim_id -> every PMID its query returns today (full runs only: a dated window says
    # nothing about what dropped out)
    full_hits: Mapping[str, set[str]] = field(default_factory=dict)
    # The claims registry the claims came from: its parts and tested questions shape the verdicts
    # (a claim split into parts takes its weakest part's grade). None grades claims whole.
    registry: Registry | None = None


def retag(
    records: pd.DataFrame, tags: pd.DataFrame, pmids: set[str], curator: pd.DataFrame
) -> pd.DataFrame:
    """Recompute machine tags for ``pmids``; curator tags (old and new) are kept."""
    kept_curator = tags[tags["origin"].eq("curator")]
    curator_all = replace_rows(kept_curator, curator, TAGS.key) if len(curator) else kept_curator
    others = tags[~tags["origin"].eq("curator") & ~tags["pmid"].isin(pmids)]
    changed = records[records["pmid"].isin(pmids)]
    fresh = tag_records(changed, curator_all[curator_all["pmid"].isin(pmids)])
    fresh = fresh[~fresh["origin"].eq("curator")]
    merged = pd.concat([others, fresh, curator_all], ignore_index=True)
    merged = merged.drop_duplicates(list(TAGS.key), keep="last")
    return TAGS.conform(merged.sort_values(list(TAGS.key)).reset_index(drop=True))


def suggest_unassessed(
    links: pd.DataFrame, records: pd.DataFrame, claims: pd.DataFrame, now: pd.Timestamp
) -> pd.DataFrame:
    """Fill stance suggestions for unassessed links whose record has an abstract.

    Deterministic (same claim + abstract -> same suggestion), so re-running never churns; a link
    that already carries a suggestion or a curator stance is left alone.
    """
    todo = links["stance_origin"].eq("unassessed")
    if not todo.any():
        return links
    abstracts = records.set_index("pmid")["abstract"]
    statements = claims.set_index("claim_id")["statement"]
    out = links.copy()
    for i in out.index[todo]:
        text = abstracts.get(out.at[i, "pmid"], "")
        if not isinstance(text, str) or not text.strip():
            continue
        s = suggest_stance(str(statements.get(out.at[i, "claim_id"], "")), text)
        out.loc[i, ["stance", "stance_origin", "stance_confidence", "stance_evidence"]] = [
            s.stance,
            "suggested",
            float(s.confidence),
            " … ".join(s.sentences),
        ]
        out.at[i, "updated_at"] = now
        out.at[i, "updated_by"] = f"suggester ({s.method})"
    return LINKS.conform(out)


def without_unchanged(batch: Batch, snap: Snapshot) -> Batch:
    """Drop records and links the store already holds verbatim, so a re-import is a no-op."""
    records = batch.records
    if len(records):
        stored = snap["records"].set_index("pmid")["content_hash"]
        same = records["content_hash"].to_numpy() == stored.reindex(records["pmid"]).to_numpy()
        records = records[~same]
    links = batch.links
    if len(links):
        cols = ["claim_id", "pmid", "stance", "stance_origin", "note", "stance_evidence"]
        cols += ["direct", "indirect_because"]  # a curator's change of directness is news
        known = snap["links"][cols].astype(object).fillna("")
        seen = set(map(tuple, known.to_numpy()))
        rows = links[cols].astype(object).fillna("").to_numpy()
        links = links[[tuple(r) not in seen for r in rows]]
    tags = batch.curator_tags
    if len(tags):
        cols = list(TAGS.columns)
        seen = set(map(tuple, snap["tags"][cols].astype(object).fillna("").to_numpy()))
        tags = tags[[tuple(r) not in seen for r in tags[cols].astype(object).fillna("").to_numpy()]]
    return replace(batch, records=records, links=links, curator_tags=tags)


def apply_batch(
    snap: Snapshot,
    batch: Batch,
    run_id: str,
    now: pd.Timestamp,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, pd.DataFrame]:
    """New table frames after folding ``batch`` into ``snap`` (pure; nothing is written)."""
    claims = batch.claims if batch.claims is not None else snap["claims"]
    records, changes = snap["records"], snap["record_changes"]
    touched: set[str] = set()
    if len(batch.records):
        previous = records.set_index("pmid")["last_checked"]
        records, new_changes = upsert_records(records, batch.records, run_id, now)
        changes = RECORD_CHANGES.conform(pd.concat([changes, new_changes], ignore_index=True))
        touched = set(batch.records["pmid"])
        incoming = records["pmid"].isin(touched).to_numpy(bool)
        records.loc[incoming, "last_checked"] = previous.reindex(
            records.loc[incoming, "pmid"]
        ).to_numpy()
    if batch.checked:
        records.loc[records["pmid"].isin(batch.checked).to_numpy(bool), "last_checked"] = now
    touched |= set(batch.curator_tags["pmid"]) if len(batch.curator_tags) else set()
    tags = retag(records, snap["tags"], touched, batch.curator_tags)

    links = snap["links"]
    if len(batch.links):
        links = upsert_links(links, batch.links)
    scores = score_relevance(records, claims, batch.topic_queries)
    fresh = candidate_links(scores, links, threshold, run_id=run_id, now=now)
    if len(fresh):
        links = upsert_links(links, fresh)
    for claim_id, hits in batch.full_hits.items():
        links = mark_dropped_links(links, claim_id, hits)
        found = links["claim_id"].eq(claim_id) & links["pmid"].isin(hits)
        links.loc[found.to_numpy(bool), "in_latest_query"] = True
    links = suggest_unassessed(links, records, claims, now)

    verdicts = grade_claims(claims, links, records, tags, as_of=now.date(), registry=batch.registry)
    history = pd.concat(
        [snap["verdicts"], verdicts_frame(verdicts, run_id, now.to_pydatetime())],
        ignore_index=True,
    )
    return {
        "records": RECORDS.conform(records),
        "record_changes": changes,
        "tags": tags,
        "claims": claims,
        "links": LINKS.conform(links),
        "verdicts": VERDICTS.conform(history),
    }


def run_row(run_id: str, started: pd.Timestamp, ended: pd.Timestamp, **values) -> pd.DataFrame:
    """One ``runs`` row; unspecified counts are 0, text fields empty."""
    row = {
        "run_id": run_id,
        "started_at": started,
        "ended_at": ended,
        "status": "success",
        "mode": "",
        "queries": [],
        "network_requests": 0,
        "cache_hits": 0,
        "new_records": 0,
        "updated_records": 0,
        "retracted_records": 0,
        "error": "",
        "report_path": "",
    }
    row.update(values)
    return RUNS.conform(pd.DataFrame([row], columns=RUNS.columns))


def registry_for(data_dir: Path) -> Registry:
    return load_claims(data_dir / "claims.yaml")


def build_default_store(
    data_dir: Path,
    store_dir: Path | None = None,
    corpus: Path | None = None,
    *,
    force: bool = False,
    on_set_aside: Callable[[Path], None] | None = None,
) -> Store:
    """The embedded default: the claims registry plus the curated evidence, graded.

    Goes through `read_curated` + `apply_batch`, the same path as any editor's import. Opening an
    existing store imports again, which changes nothing but adds a verdicts snapshot. A damaged
    store is refused (the error says how to recover); with `force` it is moved aside (kept, never
    deleted; `on_set_aside` gets its new path) and a fresh one is built. The bundled data is
    read and validated first, so bad data moves nothing.
    """
    store_dir = store_dir or data_dir / "store"
    registry = registry_for(data_dir)
    now = pd.Timestamp("2026-11-26", tz="UTC")  # the curated set's collection date
    curated = read_curated(
        corpus or data_dir / DEFAULT_CORPUS, set(registry.claim_ids), now=now, run_id="default"
    )
    if force and store_dir.exists():
        existing = Store(store_dir)
        state = existing.check()  # tolerant: damaged tables become problems, not errors
        if state.exists and not state.healthy and not state.needs_upgrade:
            moved = existing.set_aside()
            if on_set_aside is not None:
                on_set_aside(moved)
    store = Store.open(store_dir) if (store_dir / "manifest.json").exists() else None
    store = store or Store.create(store_dir)
    batch = Batch(
        records=curated.records,
        links=curated.links,
        curator_tags=curated.tags,
        claims=claims_frame(registry),
        topic_queries={k: t.query for k, t in registry.topics.items()},
        registry=registry,
    )

    def change(snap: Snapshot) -> dict[str, pd.DataFrame]:
        if snap["runs"]["run_id"].eq("default").any():
            return {}
        frames = apply_batch(snap, batch, "default", now)
        frames["runs"] = run_row(
            "default",
            now,
            now,
            mode="curated import",
            new_records=len(curated.records),
        )
        return frames

    store.update(change, actor="curated import")
    return store

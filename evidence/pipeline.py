"""Fold a batch of evidence into the store's tables: one pure function, used by every path.

The curated import, the weekly refresh and an editor's nbib import all end in `apply_batch`,
which merges records (upsert by PMID, changes recorded), re-tags what changed, scores relevance,
adds candidate links without touching a curator's judgement, suggests stances for unassessed
links, and grades the claims. It runs inside `Store.update`, on the latest snapshot, so a
curator's edit committed while a refresh was fetching is merged, never overwritten.

Its cost follows the batch, not the store: it reads only the stored rows of the batch's PMIDs
(and of the linked records a verdict needs), returns the large tables as `Delta`s of the rows
that change, scores only the records whose content changed (`relevance`), and grades again only
the claims whose links, linked records or tags, or grading basis changed; the others' last
verdicts are carried into the new run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .claims import Registry, claims_frame, load_claims
from .curated import read_curated
from .facts import fact_rows
from .levels import load_rubric
from .merges import mark_dropped_links, replace_rows, upsert_links, upsert_records
from .partitions import Delta, merge
from .relevance import (
    DEFAULT_THRESHOLD,
    TOLERANCE,
    CorpusStats,
    candidate_links,
    claim_terms,
    score_terms,
    term_rows,
)
from .schema import (
    CLAIMS,
    LINKS,
    RECORD_CHANGES,
    RECORD_TERMS,
    RECORDS,
    RUNS,
    TABLES,
    TAGS,
    VERDICTS,
    Table,
)
from .stance import suggest_stance
from .store import Change, Snapshot, Store
from .tagging import tag_records
from .verdict import grade_claims, grading_basis, linked_facts, verdicts_frame

DEFAULT_CORPUS = Path("corpus") / "curated_evidence.jsonl"
TEXT_COLUMNS = ["pmid", "title", "abstract", "mesh", "keywords"]  # what relevance reads


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
        stored = snap.rows("records", records["pmid"], ["pmid", "content_hash"])
        stored = stored.set_index("pmid")["content_hash"]
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
        mine = snap.rows("tags", tags["pmid"])
        seen = set(map(tuple, mine[cols].astype(object).fillna("").to_numpy()))
        tags = tags[[tuple(r) not in seen for r in tags[cols].astype(object).fillna("").to_numpy()]]
    return replace(batch, records=records, links=links, curator_tags=tags)


def apply_batch(
    snap: Snapshot,
    batch: Batch,
    run_id: str,
    now: pd.Timestamp,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Change]:
    """The changes of folding ``batch`` into ``snap`` (pure; nothing is written), for
    `Store.update`: whole frames of links and verdicts (and of claims and term_stats when they
    changed), `Delta`s of records, record_changes, tags, record_facts and record_terms.
    `changed_rows` reads a table's new or changed rows out of either."""
    claims = batch.claims if batch.claims is not None else snap["claims"]
    folded = _fold_records(snap, batch, run_id, now)
    retagged = folded.content | (
        set(batch.curator_tags["pmid"]) if len(batch.curator_tags) else set()
    )
    old_tags = snap.rows("tags", retagged)
    tags = retag(folded.records, old_tags, retagged, batch.curator_tags)

    before = snap["links"]
    links = upsert_links(before, batch.links) if len(batch.links) else before
    content = folded.records[folded.records["pmid"].isin(folded.content)]
    scores, relevance = _relevance(snap, claims, batch.topic_queries, content)
    fresh = candidate_links(scores, links, threshold, run_id=run_id, now=now)
    if len(fresh):
        links = upsert_links(links, fresh)
    for claim_id, hits in batch.full_hits.items():
        links = mark_dropped_links(links, claim_id, hits)
        found = links["claim_id"].eq(claim_id) & links["pmid"].isin(hits)
        links.loc[found.to_numpy(bool), "in_latest_query"] = True
    todo = links.loc[links["stance_origin"].eq("unassessed"), "pmid"]
    abstracts = _as_folded(snap.rows("records", todo, ["pmid", "abstract"]), folded.records, todo)
    links = LINKS.conform(suggest_unassessed(links, abstracts, claims, now))

    restated = _claims_changed(snap["claims"], claims, CLAIMS)
    changed = _judgements_changed(before, links) | restated
    evidence = folded.content | retagged
    changed |= set(links.loc[links["pmid"].isin(evidence), "claim_id"])
    facts = fact_rows(folded.records[folded.records["pmid"].isin(retagged)], tags)
    verdicts = _regrade(snap, claims, links, changed, facts, retagged, batch.registry, run_id, now)

    out: dict[str, Change] = {
        "links": links,
        "verdicts": VERDICTS.conform(pd.concat([snap["verdicts"], verdicts], ignore_index=True)),
    }
    if restated:
        out["claims"] = claims
    touched = folded.records[folded.records["pmid"].isin(folded.touched)]
    if len(touched):
        out["records"] = Delta(RECORDS.conform(touched))
    if len(folded.changes):
        out["record_changes"] = Delta(folded.changes)
    if retagged:
        out["tags"] = Delta(tags, replace=retagged)
    # Facts change only with content or tags; given (even empty), the store derives none.
    out["record_facts"] = Delta(facts, replace=retagged)
    out.update(relevance)
    return out


def changed_rows(frames: Mapping[str, Change], name: str) -> pd.DataFrame:
    """The rows of table ``name`` that `apply_batch`'s changes add or replace (all of its rows
    when the change is a whole frame; none when the table is unchanged)."""
    change = frames.get(name)
    if change is None:
        return TABLES[name].empty()
    return change.upsert if isinstance(change, Delta) else change


def stored_pmids(snap: Snapshot, pmids: Iterable[str]) -> set[str]:
    """Those of ``pmids`` the store holds a record of (reads only the PMIDs' partitions)."""
    return set(snap.rows("records", pmids, ["pmid"])["pmid"])


@dataclass(frozen=True)
class _Folded:
    """The batch's records merged: the rows it reads or touches, as they will be stored."""

    records: pd.DataFrame  # stored rows of the batch's PMIDs (and curator-tagged ones), updated
    changes: pd.DataFrame  # RECORD_CHANGES rows of this run
    touched: set[str]  # PMIDs whose row changes (seen, checked or new)
    content: set[str]  # ... of which new or with new content: to tag, score and grade again


def _fold_records(snap: Snapshot, batch: Batch, run_id: str, now: pd.Timestamp) -> _Folded:
    incoming = set(batch.records["pmid"]) if len(batch.records) else set()
    tagged = set(batch.curator_tags["pmid"]) if len(batch.curator_tags) else set()
    stored = snap.rows("records", incoming | batch.checked | tagged)
    records, changes = stored, RECORD_CHANGES.empty()
    if incoming:
        previous = stored.set_index("pmid")["last_checked"]
        records, changes = upsert_records(stored, batch.records, run_id, now)
        mine = records["pmid"].isin(incoming).to_numpy(bool)
        records.loc[mine, "last_checked"] = previous.reindex(records.loc[mine, "pmid"]).to_numpy()
    checked = records["pmid"].isin(batch.checked).to_numpy(bool)
    if checked.any():
        records.loc[checked, "last_checked"] = now
    content_key = ["content_hash", "source"]
    old = stored.set_index("pmid")[content_key].reindex(records["pmid"])
    new = records.set_index("pmid")[content_key]
    differs = (old.isna() | old.ne(new)).any(axis=1).to_numpy(bool)
    return _Folded(
        records=RECORDS.conform(records),
        changes=changes,
        touched=incoming | set(records.loc[checked, "pmid"]),
        content=set(records.loc[differs, "pmid"]),
    )


def _as_folded(
    stored: pd.DataFrame, rows: pd.DataFrame, pmids: Iterable[str], replaced: Collection[str] = ()
) -> pd.DataFrame:
    """The rows of ``pmids`` as the batch leaves them: ``stored`` (read from the snapshot), with
    the rows of any PMID in the batch's ``rows`` (or in ``replaced``) taken from ``rows``."""
    wanted = set(pmids)
    theirs = set(rows["pmid"]) | set(replaced)
    ours = rows[rows["pmid"].isin(wanted)]
    kept = stored[~stored["pmid"].isin(theirs)]
    return pd.concat([kept, ours[list(stored.columns)]], ignore_index=True)


def _relevance(
    snap: Snapshot,
    claims: pd.DataFrame,
    topic_queries: Mapping[str, str],
    content: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, Change]]:
    """Scores of the records whose content changed, and the record_terms and term_stats changes.

    All records are scored again (from record_terms, no text read) when the claims' terms
    changed or the corpus drifted past `TOLERANCE` since the stored scores were computed; their
    text is read again only for a term never counted before.
    """
    terms = claim_terms(claims, topic_queries)
    vocabulary = set().union(*terms.values())
    stats = CorpusStats.from_frame(snap["term_stats"])
    if not vocabulary <= stats.vocabulary:
        fresh = set(content["pmid"])
        every = [
            term_rows(part[~part["pmid"].isin(fresh)], vocabulary)
            for part in snap.batches("records", TEXT_COLUMNS)
        ]
        rows = RECORD_TERMS.conform(
            pd.concat([*every, term_rows(content, vocabulary)], ignore_index=True)
        )
        stats = CorpusStats.of(rows, vocabulary).rebased(terms)
        scores = score_terms(rows, terms, stats)
        return scores, {"record_terms": rows, "term_stats": stats.to_frame()}
    new = term_rows(content, stats.vocabulary)
    updated = stats.replaced(snap.rows("record_terms", new["pmid"]), new)
    if updated.scored_as(terms) and updated.drift() <= TOLERANCE:
        scores = score_terms(new, terms, updated)
    else:
        every = merge(snap.arrow("record_terms"), RECORD_TERMS.to_arrow(new), (), ("pmid",))
        updated = updated.rebased(terms)
        scores = score_terms(every, terms, updated)
    out: dict[str, Change] = {}
    if len(new):
        out["record_terms"] = Delta(new)
    if updated != stats:
        out["term_stats"] = updated.to_frame()
    return scores, out


# What a verdict reads of a link (not its relevance, nor whether the latest query found it).
_GRADED = ["stance", "stance_origin", "direct", "indirect_because", "note"]


def _judgements_changed(before: pd.DataFrame, after: pd.DataFrame) -> set[str]:
    """claim_ids with a link added, or with a link whose stance, origin, directness or note
    changed: the claims whose verdict the links can have changed."""
    key = ["claim_id", "pmid"]
    old = before.set_index(key)[_GRADED].astype(object)
    new = after.set_index(key)[_GRADED].astype(object)
    added = new.index.difference(old.index)
    both = new.index.intersection(old.index)
    a, b = (
        new.loc[both].where(new.loc[both].notna(), ""),
        old.loc[both].where(old.loc[both].notna(), ""),
    )
    differs = both[(a != b).any(axis=1).to_numpy(bool)]
    return {c for c, _ in added} | {c for c, _ in differs}


def _claims_changed(before: pd.DataFrame, after: pd.DataFrame, table: Table) -> set[str]:
    """claim_ids with a row added, removed or different between two frames of a small table."""
    a, b = (table.conform(df).astype(str) for df in (before, after))
    both = a.merge(b, how="outer", indicator=True)
    return set(both.loc[both["_merge"] != "both", "claim_id"])


def _regrade(
    snap: Snapshot,
    claims: pd.DataFrame,
    links: pd.DataFrame,
    changed: set[str],
    facts: pd.DataFrame,
    retagged: set[str],
    registry: Registry | None,
    run_id: str,
    now: pd.Timestamp,
) -> pd.DataFrame:
    """This run's verdict row for every claim: graded again where ``changed``, never graded, or
    graded on another basis (rubric, parts, year); otherwise the last verdict carried over.
    Grading reads the ``record_facts`` of the regraded claims' linked records only, with the
    batch's new ``facts`` (of the ``retagged`` records) in place of the stored ones."""
    rubric = load_rubric()
    specs = {c.id: c for c in registry.claims} if registry is not None else {}
    history = snap["verdicts"]
    last = history.sort_values("computed_at").groupby("claim_id").tail(1).set_index("claim_id")
    redo = [
        c
        for c in claims["claim_id"]
        if c in changed
        or c not in last.index
        or last.at[c, "basis"] != grading_basis(specs.get(c), rubric, now.year)
    ]
    mine = links[links["claim_id"].isin(redo)]
    pmids = set(mine["pmid"])
    stored = linked_facts(snap, pmids - retagged)
    graded = grade_claims(
        claims[claims["claim_id"].isin(redo)],
        mine,
        pd.DataFrame(),
        pd.DataFrame(),
        rubric,
        as_of=now.date(),
        registry=registry,
        facts=pd.concat([stored, facts[facts["pmid"].isin(pmids)]], ignore_index=True),
    )
    fresh = verdicts_frame(graded, run_id, now.to_pydatetime())
    kept = last.loc[[c for c in claims["claim_id"] if c not in set(redo)]].reset_index()
    kept = kept.assign(run_id=run_id, computed_at=now)
    rows = pd.concat([fresh, kept[VERDICTS.columns]], ignore_index=True)
    order = {c: i for i, c in enumerate(claims["claim_id"])}
    return VERDICTS.conform(rows.sort_values("claim_id", key=lambda c: c.map(order)))


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

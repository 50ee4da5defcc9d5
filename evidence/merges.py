"""Pure merges of new findings into stored tables, so a refresh never loses what was known.

Each function takes the stored frame and the incoming rows and returns a new frame (inputs are
never mutated). They encode the store's rules: one row per key, records and links are never
deleted, a curator's judgement is never overwritten by a machine's, and the audit log only grows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .schema import AUDIT, LINKS, RECORD_CHANGES, RECORD_FIELDS, RECORDS, STANCES, Table

# Higher rank = more complete record; a lower-ranked source never replaces a higher one's content.
SOURCE_RANK = {"curated": 0, "nbib": 1, "efetch": 2}
CONTENT_FIELDS = tuple(f for f in RECORD_FIELDS.names if f not in ("source", "content_hash"))

# What an audit row records of a link before and after a curator's edit.
_CURATED = ("stance", "stance_origin", "curator_note")
_STANCE_COLUMNS = (
    "stance",
    "stance_origin",
    "stance_confidence",
    "stance_evidence",
    "direct",
    "indirect_because",
    "updated_at",
    "updated_by",
)

# How a changed field reads in a change summary; fields mapped to None are implied by another.
_FIELD_LABELS: dict[str, str | None] = {
    "abstract": "abstract",
    "abstract_sections": None,
    "mesh": "MeSH",
    "publication_types": "publication types",
    "keywords": "keywords",
    "errata": "erratum",
    "retraction_notices": None,
    "concern_notices": None,
    "authors": "authors",
    "title": "title",
    "doi": "DOI",
    "pmcid": "PMC ID",
}


def upsert_records(
    existing: pd.DataFrame, incoming: pd.DataFrame, run_id: str, now: pd.Timestamp | str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Upsert parsed records by PMID; return the merged records and their RECORD_CHANGES rows.

    New PMIDs get origin = source and first_seen_run = run_id. Every PMID in `incoming` gets
    last_seen_run = run_id and last_checked = now, so "still found" is visible even when nothing
    changed. When the content differs, the higher-ranked source supplies it (efetch > nbib >
    curated) and, across sources, empty fields are filled from the other: an efetch record over a
    curated one brings abstract and indexing while origin stays "curated". A PMID repeated in
    `incoming` (fetched in two batches) counts once, the last row winning.
    """
    _require_columns("incoming records", incoming, RECORD_FIELDS.names)
    _require_columns("existing records", existing, RECORDS.columns)
    at = _utc(now)
    inc = incoming[list(RECORD_FIELDS.names)]
    if inc["pmid"].isna().any():
        raise ValueError("incoming records: a row has no pmid")
    inc = inc.drop_duplicates("pmid", keep="last").reset_index(drop=True)
    old = existing[RECORDS.columns].reset_index(drop=True)

    pos = pd.Index(old["pmid"]).get_indexer(inc["pmid"])
    is_new = pos < 0

    fresh = inc[is_new].copy()
    fresh["origin"] = fresh["source"]
    fresh["first_seen_run"] = run_id
    fresh["last_seen_run"] = run_id
    fresh["last_checked"] = at
    fresh = RECORDS.conform(fresh) if len(fresh) else RECORDS.empty()

    seen_pos = pos[~is_new]
    seen_inc = inc[~is_new].reset_index(drop=True)
    merged = old.copy()
    seen_mask = np.zeros(len(merged), dtype=bool)
    seen_mask[seen_pos] = True
    merged.loc[seen_mask, "last_seen_run"] = run_id
    merged.loc[seen_mask, "last_checked"] = at

    old_hash = _objects(old["content_hash"])[seen_pos]
    old_source = _objects(old["source"])[seen_pos]
    differs = (old_hash != _objects(seen_inc["content_hash"])) | (
        old_source != _objects(seen_inc["source"])
    )

    replaced_rows: list[dict[str, Any]] = []
    replaced_pos: list[int] = []
    change_rows: list[dict[str, Any]] = []
    for i in np.flatnonzero(differs):
        p = int(seen_pos[i])
        before = _row(merged, p)
        content = _merge_content(before, _row(seen_inc, int(i)))
        if content == {k: before[k] for k in content}:
            continue
        fields = [f for f in CONTENT_FIELDS if content[f] != before[f]]
        replaced_rows.append({**before, **content})
        replaced_pos.append(p)
        if fields:
            change_rows.append(
                {
                    "run_id": run_id,
                    "pmid": before["pmid"],
                    "changed_at": at,
                    "fields": fields,
                    "summary": describe_change(before, content, fields),
                    "old_hash": before["content_hash"],
                    "new_hash": content["content_hash"],
                }
            )
    if replaced_rows:
        replaced = RECORDS.conform(pd.DataFrame(replaced_rows, columns=RECORDS.columns))
        replaced.index = pd.Index(replaced_pos)
        merged = pd.concat([merged.drop(index=replaced_pos), replaced]).sort_index()
    merged = _concat([merged, fresh])
    changes = (
        RECORD_CHANGES.conform(pd.DataFrame(change_rows, columns=RECORD_CHANGES.columns))
        if change_rows
        else RECORD_CHANGES.empty()
    )
    return merged, changes


def describe_change(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Sequence[str]
) -> str:
    """A short human summary of a record change, e.g. "became retracted; MeSH added"."""
    parts: list[str] = []
    for field in fields:
        old, new = before.get(field), after.get(field)
        if field == "retracted":
            parts.append("became retracted" if new else "retraction withdrawn")
        elif field == "expression_of_concern":
            parts.append("expression of concern added" if new else "expression of concern removed")
        elif field == "citation_status":
            parts.append(f"citation status {old or 'none'} -> {new or 'none'}")
        elif field in _FIELD_LABELS:
            label = _FIELD_LABELS[field]
            if label is None:
                continue
            if _is_empty(old):
                parts.append(f"{label} added")
            elif _is_empty(new):
                parts.append(f"{label} removed")
            else:
                parts.append(f"{label} changed")
        else:
            parts.append(f"{field.replace('_', ' ')} changed")
    return "; ".join(parts) if parts else "content changed"


def upsert_links(existing: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """Upsert claim-record links by (claim_id, pmid) without losing a curator's judgement.

    Relevance and in_latest_query always come from `incoming`. The stance (with its origin,
    confidence, evidence, updated_at/by) is taken from `incoming` only when it is a curator's, or
    when it is a suggestion over no curator stance and over an older suggestion or none. A note
    that is set is only replaced by a curator row's note. first_linked_run is kept.
    """
    inc = LINKS.conform(incoming)
    _refuse_duplicates("incoming links", inc, LINKS.key)
    old = existing[LINKS.columns].reset_index(drop=True)
    pos = _key_index(old, LINKS.key).get_indexer(_key_index(inc, LINKS.key))
    fresh = inc[pos < 0]
    matched = pos >= 0
    if not matched.any():
        return _concat([old, fresh])

    p = pos[matched]
    o = old.iloc[p].reset_index(drop=True)
    i = inc[matched].reset_index(drop=True)
    i_origin, o_origin = _objects(i["stance_origin"]), _objects(o["stance_origin"])
    i_curator = i_origin == "curator"
    newer = ((i["updated_at"] >= o["updated_at"]) | o["updated_at"].isna()).to_numpy(bool)
    take = i_curator | (
        (o_origin != "curator") & (i_origin == "suggested") & ((o_origin != "suggested") | newer)
    )

    upd = o.copy()
    for col in _STANCE_COLUMNS:
        upd[col] = i[col].where(take, o[col])
    i_note, o_note = i["note"].notna(), o["note"].notna()
    upd["note"] = i["note"].where((i_curator & i_note) | ~o_note, o["note"])
    upd["relevance"] = i["relevance"]
    upd["in_latest_query"] = i["in_latest_query"]
    upd["first_linked_run"] = o["first_linked_run"].where(
        o["first_linked_run"].notna(), i["first_linked_run"]
    )
    upd.index = pd.Index(p)
    merged = pd.concat([old.drop(index=p), upd]).sort_index()
    return _concat([merged, fresh])


def mark_dropped_links(
    links: pd.DataFrame, claim_id: str, seen_pmids: Iterable[str]
) -> pd.DataFrame:
    """Flag links of `claim_id` whose PMID the latest query no longer returns; never delete them."""
    seen = set(seen_pmids)
    dropped = (links["claim_id"] == claim_id) & ~links["pmid"].isin(seen)
    out = links.copy()
    out.loc[dropped.to_numpy(bool), "in_latest_query"] = False
    return out


def append_audit(
    audit: pd.DataFrame, rows: pd.DataFrame | Iterable[Mapping[str, Any]]
) -> pd.DataFrame:
    """Append curator actions to the audit log; each needs `at`, `actor` and `action`."""
    new = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    new = new.reindex(columns=AUDIT.columns)
    for col in ("at", "actor", "action"):
        blank = new[col].isna() | (new[col].astype(str).str.strip() == "")
        if blank.any():
            raise ValueError(f"audit row {int(np.flatnonzero(blank)[0])}: {col!r} is required")
    return _concat([audit[AUDIT.columns], AUDIT.conform(new)])


def replace_rows(
    table_df: pd.DataFrame, new_rows: pd.DataFrame, key: Table | Sequence[str]
) -> pd.DataFrame:
    """Generic upsert: rows of `new_rows` replace same-key rows in place, others are appended.

    Given a `Table`, `new_rows` is coerced to its schema and its key is used.
    """
    if isinstance(key, Table):
        new_rows = key.conform(new_rows)
        key = key.key
    key = tuple(key)
    if not key:
        raise ValueError("replace_rows needs a key; use append_audit for the keyless audit log")
    _refuse_duplicates("new rows", new_rows, key)
    old = table_df.reset_index(drop=True)
    new_rows = new_rows[list(old.columns)].reset_index(drop=True)
    pos = _key_index(old, key).get_indexer(_key_index(new_rows, key))
    replaced = new_rows[pos >= 0].copy()
    replaced.index = pd.Index(pos[pos >= 0])
    merged = pd.concat([old.drop(index=replaced.index), replaced]).sort_index()
    return _concat([merged, new_rows[pos < 0]])


def apply_curation(
    links: pd.DataFrame,
    records: pd.DataFrame,
    *,
    actor: str,
    claim_id: str,
    pmid: str,
    at: pd.Timestamp | str,
    stance: str | None = None,
    note: str | None = None,
    action: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A curator's edit of one link, and the audit row recording who changed what from what.

    ``note`` is the editor's own note: it goes to ``curator_note``, beside the curated study
    summary in ``note``, which an edit never touches. A missing link is created (action
    "add_link") when the PMID is in `records`, so a curator can attach a paper the query did not
    find.
    """
    if not actor or not actor.strip():
        raise ValueError("a curator action needs an actor")
    if stance is None and note is None:
        raise ValueError("a curator action needs a stance or a note")
    if stance is not None and stance not in STANCES:
        raise ValueError(f"unknown stance {stance!r}; expected one of {', '.join(STANCES)}")
    when = _utc(at)
    hit = np.flatnonzero(((links["claim_id"] == claim_id) & (links["pmid"] == pmid)).to_numpy(bool))
    if len(hit):
        row = _row(links.reset_index(drop=True), int(hit[0]))
        before: dict[str, Any] | None = {k: row[k] for k in _CURATED}
        default_action = "set_stance" if stance is not None else "set_note"
    else:
        if not records["pmid"].eq(pmid).any():
            raise ValueError(
                f"PMID {pmid} is not in the records table; import it before linking it"
            )
        row = {c: None for c in LINKS.columns}
        row.update(
            claim_id=claim_id,
            pmid=pmid,
            stance="unassessed",
            stance_origin="unassessed",
            direct=True,
            indirect_because="",
            in_latest_query=False,
        )
        before = None
        default_action = "add_link"
    if stance is not None:
        row.update(stance=stance, stance_origin="curator", stance_confidence=None)
    if note is not None:
        row["curator_note"] = note
    row.update(updated_at=when, updated_by=actor)
    after = {k: row[k] for k in _CURATED}
    new_links = replace_rows(links, pd.DataFrame([row], columns=LINKS.columns), LINKS)
    audit_row = {
        "at": when,
        "actor": actor,
        "action": action or default_action,
        "claim_id": claim_id,
        "pmid": pmid,
        "before": None if before is None else json.dumps(before, sort_keys=True),
        "after": json.dumps(after, sort_keys=True),
        "note": note,
    }
    return new_links, audit_row


def apply_directness(
    links: pd.DataFrame,
    *,
    actor: str,
    claim_id: str,
    pmid: str,
    at: pd.Timestamp | str,
    direct: bool,
    because: str = "",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A curator's judgement of whether a linked study answers the claim's own question.

    An indirect study needs its reason ("ECT, not TMS"), so the why can say it; a direct one
    has none. Returns the links and the audit row with the before and after values. Designs
    indirect by nature (rubric ``indirect_designs``) stay indirect whatever is set here.
    """
    if not actor or not actor.strip():
        raise ValueError("a curator action needs an actor")
    because = (because or "").strip()
    if not direct and not because:
        raise ValueError("say why the study is indirect (e.g. 'ECT, not TMS')")
    if direct and because:
        raise ValueError("a direct study has no 'indirect because' reason")
    hit = np.flatnonzero(((links["claim_id"] == claim_id) & (links["pmid"] == pmid)).to_numpy(bool))
    if not len(hit):
        raise ValueError(f"PMID {pmid} is not linked to {claim_id}; attach it first")
    when = _utc(at)
    row = _row(links.reset_index(drop=True), int(hit[0]))
    before = {"direct": row["direct"], "indirect_because": row["indirect_because"] or ""}
    # updated_at/by stay the stance's (suggestion merges compare them); the audit row says who.
    row.update(direct=bool(direct), indirect_because=because)
    after = {"direct": bool(direct), "indirect_because": because}
    new_links = replace_rows(links, pd.DataFrame([row], columns=LINKS.columns), LINKS)
    audit_row = {
        "at": when,
        "actor": actor,
        "action": "set_directness",
        "claim_id": claim_id,
        "pmid": pmid,
        "before": json.dumps(before, sort_keys=True),
        "after": json.dumps(after, sort_keys=True),
        "note": because or None,
    }
    return new_links, audit_row


def _merge_content(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    rank_old = SOURCE_RANK.get(old["source"], -1)
    rank_new = SOURCE_RANK.get(new["source"], -1)
    primary, secondary = (new, old) if rank_new >= rank_old else (old, new)
    out = {f: primary[f] for f in (*CONTENT_FIELDS, "source", "content_hash")}
    if old["source"] != new["source"]:
        for f in CONTENT_FIELDS:
            if _is_empty(out[f]) and not _is_empty(secondary[f]):
                out[f] = secondary[f]
    return out


def _row(df: pd.DataFrame, position: int) -> dict[str, Any]:
    return {c: _plain(v) for c, v in df.iloc[position].items()}


def _plain(value: Any) -> Any:
    """Nested Arrow-derived values (numpy arrays, dicts, NaN) as comparable Python values."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _objects(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=object, na_value=None)


def _utc(value: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _key_index(df: pd.DataFrame, key: Sequence[str]) -> pd.Index:
    if len(key) == 1:
        return pd.Index(df[key[0]])
    return pd.MultiIndex.from_frame(df[list(key)])


def _refuse_duplicates(what: str, df: pd.DataFrame, key: Sequence[str]) -> None:
    dup = df.duplicated(list(key), keep=False)
    if dup.any():
        sample = df.loc[dup, list(key)].drop_duplicates().head(3).to_dict("records")
        raise ValueError(f"{what}: duplicate key {list(key)} values, e.g. {sample}")


def _require_columns(what: str, df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate, skipping empty frames (their all-NA columns would loosen the dtypes)."""
    kept = [f for f in frames if len(f)]
    if not kept:
        return frames[0].iloc[0:0].reset_index(drop=True)
    return pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True)

"""An editor's judgements: stance, note, directness, attaching a PMID, each one audited commit.

Every edit regrades its claim in the same commit and appends the claim's new ``verdicts`` row
(run id `edit_run_id`, computed at the audit row's time), so the stored verdict history and the
verdict a page shows agree, and `evidence.history_view` can say who changed what and why.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from .auth import User, require_editor
from .claims import Registry
from .errors import FetchError, StoreError
from .imports import fetch_pmids
from .merges import append_audit, apply_directness
from .partitions import Delta
from .pmids import MAX_PMID_DIGITS, is_pmid
from .schema import CURATOR_STANCES, VERDICTS
from .settings import Settings
from .store import Snapshot, Store, curated_links
from .transport import HostUnreachable
from .verdict import Verdict, grade_claims, linked_facts, verdicts_frame

# Curator actions as they appear in the audit log.
SET_STANCE = "set_stance"
ACCEPT_SUGGESTION = "accept_suggestion"
MARK_IRRELEVANT = "mark_irrelevant"
ADD_NOTE = "set_note"
ATTACH_PMID = "add_link"
SET_DIRECTNESS = "set_directness"

EDIT_RUN_PREFIX = "edit-"
# What an editor types around a PMID ("PMID: 123", spaces); the PMID itself is `is_pmid`'s.
_PMID = re.compile(r"\s*(?:PMID:?\s*)?(.*?)\s*", re.IGNORECASE | re.DOTALL)
# An editor waits for an attach: one quick try, no long backoff (a refresh keeps its patience).
_INTERACTIVE = {"max_retries": 1, "backoff_max": 2.0, "connect_timeout": 5.0, "total_timeout": 30.0}


def edit_run_id(at: pd.Timestamp) -> str:
    """The ``verdicts.run_id`` of an editor's regrade: unique per edit, sorts by time."""
    return f"{EDIT_RUN_PREFIX}{at:%Y%m%dT%H%M%S.%fZ}"


def is_edit(run_id: str) -> bool:
    return str(run_id).startswith(EDIT_RUN_PREFIX)


def parse_pmid(text: str) -> str:
    """A PMID typed by an editor ("12345", "PMID: 12345"); ValueError when it is not one.

    The digits must satisfy the one PMID rule: "0123" or "١٢٣" would name another record (or
    none), so they are refused rather than normalised.
    """
    m = _PMID.fullmatch(text or "")
    if m is None or not is_pmid(m.group(1)):
        raise ValueError(
            f"{text!r} is not a PMID (expected 1-{MAX_PMID_DIGITS} digits without a leading "
            "zero, e.g. 31234567)"
        )
    return m.group(1)


def _commit_edit(
    store: Store,
    actor: str,
    claim_id: str,
    at: pd.Timestamp,
    edit: Callable[[Snapshot], tuple[pd.DataFrame, dict[str, Any]]],
    registry: Registry | None,
) -> Verdict:
    """Apply ``edit`` to the links, append its audit row and the claim's regraded verdict row,
    all in one commit; returns the new verdict."""
    graded: dict[str, Verdict] = {}

    def change(snap: Snapshot) -> dict[str, Any]:
        claims = snap["claims"]
        if not claims["claim_id"].eq(claim_id).any():
            raise StoreError(f"unknown claim {claim_id!r}: it is not in the claims table")
        links, audit_row = edit(snap)
        mine = links[links["claim_id"].eq(claim_id)]
        verdict = grade_claims(
            claims[claims["claim_id"].eq(claim_id)],
            mine,
            pd.DataFrame(),
            pd.DataFrame(),
            as_of=at.date(),
            registry=registry,
            facts=linked_facts(snap, set(mine["pmid"])),
        )[claim_id]
        graded[claim_id] = verdict
        row = verdicts_frame({claim_id: verdict}, edit_run_id(at), at.to_pydatetime())
        key = audit_row["pmid"]
        touched = links[links["claim_id"].eq(claim_id) & links["pmid"].eq(key)]
        return {
            "links": Delta(touched),
            "audit": append_audit(snap["audit"], [audit_row]),
            "verdicts": VERDICTS.conform(pd.concat([snap["verdicts"], row], ignore_index=True)),
        }

    store.update(change, actor=actor)
    return graded[claim_id]


def curate(
    store: Store,
    user: User,
    claim_id: str,
    pmid: str,
    *,
    stance: str | None = None,
    note: str | None = None,
    action: str | None = None,
    registry: Registry | None = None,
) -> Verdict:
    """Record an editor's stance and/or note (audited, regraded, one commit); the new verdict.

    The note is the editor's own (``links.curator_note``): the curated study summary stays.
    A viewer is refused with `NotAllowed` before anything is written.
    """
    actor = require_editor(user)
    if stance is not None and stance not in (*CURATOR_STANCES, "irrelevant"):
        raise ValueError(f"an editor sets one of {', '.join(CURATOR_STANCES)} or irrelevant")
    at = pd.Timestamp.now(tz="UTC").floor("us")

    def edit(snap: Snapshot) -> tuple[pd.DataFrame, dict[str, Any]]:
        return curated_links(
            snap, actor, claim_id, pmid, at=at, stance=stance, note=note, action=action
        )

    return _commit_edit(store, actor, claim_id, at, edit, registry)


def set_directness(
    store: Store,
    user: User,
    claim_id: str,
    pmid: str,
    *,
    direct: bool,
    because: str = "",
    registry: Registry | None = None,
) -> Verdict:
    """An editor says whether a linked study answers the claim's own question (audited, one
    commit, before and after recorded) and gets the claim's new verdict.

    An indirect study needs its reason ("ECT, not TMS"); the why reads it out.
    """
    actor = require_editor(user)
    at = pd.Timestamp.now(tz="UTC").floor("us")

    def edit(snap: Snapshot) -> tuple[pd.DataFrame, dict[str, Any]]:
        return apply_directness(
            snap["links"],
            actor=actor,
            claim_id=claim_id,
            pmid=pmid,
            at=at,
            direct=direct,
            because=because,
        )

    return _commit_edit(store, actor, claim_id, at, edit, registry)


class PubMedUnavailable(FetchError, ValueError):
    """PubMed could not be asked for a PMID an editor attaches; nothing was stored."""

    def __init__(self, pmid: str, reason: str) -> None:
        super().__init__(f"efetch {pmid}", reason)

    def __str__(self) -> str:
        return self.reason


def attach_pmid(
    store: Store,
    user: User,
    claim_id: str,
    pmid_text: str,
    *,
    stance: str | None = None,
    note: str | None = None,
    settings: Settings | None = None,
    registry: Registry | None = None,
) -> Verdict:
    """Link a record to a claim the query did not find it for.

    A PMID the store lacks is fetched from PubMed first when ``settings`` allow it (not offline),
    with an editor's patience: no retry when PubMed's host cannot be resolved or refuses the
    connection, so an offline machine answers at once, in words, with nothing stored.
    """
    actor = require_editor(user)
    pmid = parse_pmid(pmid_text)
    snap = store.snapshot()
    links = snap["links"]
    if (links["claim_id"].eq(claim_id) & links["pmid"].eq(pmid)).any():
        raise ValueError(f"PMID {pmid} is already linked to {claim_id}")
    if not snap.key_frame("records", ["pmid"])["pmid"].eq(pmid).any():
        if settings is None or settings.offline:
            raise ValueError(
                f"PMID {pmid} is not in the store; import it (evidence refresh or an nbib "
                "import) first"
            )
        quick = dataclasses.replace(
            settings, **{k: min(getattr(settings, k), v) for k, v in _INTERACTIVE.items()}
        )
        try:
            found = fetch_pmids(quick, [pmid], actor=actor, interactive=True)
        except HostUnreachable as e:
            raise PubMedUnavailable(
                pmid,
                f"PubMed could not be reached (offline?). PMID {pmid} is not in the store; try "
                "again when online or import it from a .nbib file.",
            ) from e
        except FetchError as e:
            raise PubMedUnavailable(
                pmid,
                f"PubMed did not answer properly ({_short(e.reason)}). PMID {pmid} is not in the "
                "store; try again later or import it from a .nbib file.",
            ) from e
        if pmid not in found:
            raise ValueError(f"PubMed has no record with PMID {pmid}")
    return curate(
        store,
        user,
        claim_id,
        pmid,
        stance=stance,
        note=note if note is not None or stance is not None else "",
        action=ATTACH_PMID,
        registry=registry,
    )


def _short(reason: str, limit: int = 120) -> str:
    text = " ".join(str(reason).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

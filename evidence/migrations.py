"""Schema migrations of the store, one pure step per version, registered in `store.MIGRATIONS`.

Each step takes the raw tables of a store at version n and returns them at version n + 1; the
store coerces the result to the current schema and commits it once. Importing this module is what
registers the steps, so `evidence.store` imports it (a store opened without it could not migrate).
"""

from __future__ import annotations

import re

import pandas as pd

from . import store
from .facts import fact_rows

# "Indirect (ECT, not TMS): ..." -> "ECT, not TMS"
_PARENTHESIS = re.compile(r"^\s*indirect\s*\(([^)]*)\)", re.IGNORECASE)


def directness_from_note(note: object) -> tuple[bool, str]:
    """(direct, indirect_because) as schema v1 encoded it: a note starting with "Indirect".

    The reason is the note's opening parenthesis when there is one ("Indirect (ECT, not TMS): ..."),
    else the first sentence after "Indirect", so the why never shows an indirect study without a
    reason.
    """
    if not isinstance(note, str) or not note.strip().lower().startswith("indirect"):
        return True, ""
    m = _PARENTHESIS.match(note)
    if m and m.group(1).strip():
        return False, m.group(1).strip()
    rest = re.sub(r"^\s*indirect\w*[\s:;,.\-–—]*", "", note, flags=re.IGNORECASE)
    first = re.split(r"(?<=[.;])\s", rest.strip(), maxsplit=1)[0].rstrip(".;").strip()
    return False, first or "see the curator's note"


def v1_to_v2(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Directness becomes data on links; verdicts gain direction, certainty and needs_review.

    Links: ``direct`` and ``indirect_because`` from the v1 note-prefix convention (a column that
    is already there is kept, its gaps filled). Verdicts of past runs have no certainty on record:
    direction and certainty stay empty rather than being guessed, needs_review is False.
    """
    links = tables["links"].copy()
    parsed = [directness_from_note(n) for n in links["note"]] if len(links) else []
    derived_direct = pd.Series([d for d, _ in parsed], index=links.index, dtype=object)
    derived_because = pd.Series([b for _, b in parsed], index=links.index, dtype=object)
    if "direct" in links.columns:
        links["direct"] = links["direct"].astype(object).where(links["direct"].notna(), None)
        links["direct"] = links["direct"].fillna(derived_direct)
    else:
        links["direct"] = derived_direct
    if "indirect_because" in links.columns:
        links["indirect_because"] = links["indirect_because"].fillna(derived_because)
    else:
        links["indirect_because"] = derived_because
    links["direct"] = links["direct"].astype(bool)
    tables["links"] = links

    verdicts = tables["verdicts"].copy()
    for column in ("direction", "certainty"):
        if column not in verdicts.columns:
            verdicts[column] = None
    if "needs_review" not in verdicts.columns:
        verdicts["needs_review"] = False
    tables["verdicts"] = verdicts
    return tables


def v2_to_v3(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Relevance statistics and grading facts become data; verdicts record their basis.

    ``record_terms`` and ``term_stats`` are counted from the stored records for the terms of the
    stored claims (statement and query), and are the reference of the stored scores. The claims'
    topic queries live in the registry, not the store: the first refresh brings their terms and
    counts every record once more. ``record_facts`` are read off the records and tags. Past
    verdicts get an empty ``basis``, so the next run grades every claim afresh. (That the large
    tables are now kept in PMID ranges needs no step: the store writes them so.)
    """
    # Imported here: relevance brings bm25s and scipy (~40 MB), which a curator's edit never needs.
    from .relevance import CorpusStats, claim_terms, term_rows

    terms = claim_terms(tables["claims"])
    vocabulary = set().union(*terms.values()) if terms else set()
    rows = term_rows(tables["records"], vocabulary)
    tables["record_terms"] = rows
    tables["term_stats"] = CorpusStats.of(rows, vocabulary).rebased(terms).to_frame()
    tables["record_facts"] = fact_rows(tables["records"], tables["tags"])
    tables["verdicts"] = tables["verdicts"].assign(basis="")
    return tables


def v3_to_v4(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Links gain ``curator_note``: an editor's note gets its own field beside the curated
    summary in ``note``, which v3 overwrote. What v3 stored stays in ``note`` untouched (whether
    it was the curated summary or an editor's note cannot be told apart), so nothing is lost.
    """
    links = tables["links"]
    if "curator_note" not in links.columns:
        tables["links"] = links.assign(curator_note=None)
    return tables


store.MIGRATIONS[1] = v1_to_v2
store.MIGRATIONS[2] = v2_to_v3
store.MIGRATIONS[3] = v3_to_v4

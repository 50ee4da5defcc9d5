"""What the dashboard shows, as pure functions over a store snapshot's tables.

The Streamlit pages only lay these frames out, so every number a clinician sees (a verdict, a
count, a flag) is computed here or in the page's own presentation module (`overview_view`,
`claim_view`, `literature_view`, `history_view`, worded by `labels`), testable without a browser.
Verdicts are graded live from the snapshot with `grade_claims`, so a curator's edit changes the
verdict at once; the ``verdicts`` table is the history over refreshes and edits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from . import why
from .cells import as_list, as_text
from .claims import Registry, load_claims
from .content import highlight_segments, list_posts, read_post
from .curation import (  # noqa: F401  (the pages' and tests' one import for editing)
    ACCEPT_SUGGESTION,
    ADD_NOTE,
    ATTACH_PMID,
    MARK_IRRELEVANT,
    SET_DIRECTNESS,
    SET_STANCE,
    attach_pmid,
    curate,
    parse_pmid,
    set_directness,
)
from .errors import StoreError
from .levels import GRADES, load_rubric
from .schema import STANCES
from .stance_rules import content_stems, split_sentences, tokens
from .store import BUILD_HINT, Store, rows_of
from .verdict import (
    Verdict,
    directness,
    facts_of,
    grade_claims,
    linked_facts,
)

GRADE_COLOURS = {
    "Well supported": "#1a7f37",
    "Supported": "#57ab5a",
    "Limited": "#d4a72c",
    "Contested": "#e16f24",
    "Contradicted": "#cf222e",
    "No evidence found": "#8c959f",
}
# Lighter tints of the same hues, for highlighting text that must stay readable.
GRADE_TINTS = {
    "Well supported": "#b7e4c0",
    "Supported": "#d5f0d9",
    "Limited": "#fbefc2",
    "Contested": "#fbd9bf",
    "Contradicted": "#f9c9cc",
    "No evidence found": "#e4e7ea",
}
STANCE_COLOURS = {
    "supports": "#1a7f37",
    "contradicts": "#cf222e",
    "mixed": "#d4a72c",
    "background": "#8c959f",
    "unassessed": "#c9d1d9",
    "irrelevant": "#eaeef2",
}
STANCE_ORDER = {s: i for i, s in enumerate(STANCES)}
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
DOI_URL = "https://doi.org/{}"

# What the 0-100 score measures, for every place that shows it.
SCORE_HELP = (
    "Where the claim sits inside its grade's band (e.g. Limited = 40-59): higher when more of "
    "the curator-confirmed evidence supports it and there is more of it. Compare scores only "
    "within one grade; claims are ordered by certainty, then direction."
)
CERTAINTY_HELP = (
    "How far to trust the evidence (GRADE-style): starts from the best study that tests the claim "
    "directly (trials and pooled analyses high, observational studies low) and is rated down for "
    "indirectness, inconsistency and imprecision. Rules: evidence/rubric.yaml, section 6."
)
DIRECTION_HELP = "Which way the curator-confirmed evidence points: supports, mixed, contradicts."

# --- opening the store -------------------------------------------------------------------------


def open_or_build(data_dir: Path) -> Store:
    """The store under ``data_dir``; the bundled default is built on first start if missing.

    Raises `StoreError` saying what to do when there is neither a store nor the data to build one.
    """
    from .pipeline import build_default_store  # the pipeline pulls in the stance models

    store_dir = data_dir / "store"
    if (store_dir / "manifest.json").exists():
        return Store.open(store_dir)
    if (data_dir / "claims.yaml").is_file() and (data_dir / "corpus").is_dir():
        return build_default_store(data_dir, store_dir)
    raise StoreError(
        f"no evidence store at {store_dir} and no claims registry (claims.yaml) in {data_dir} "
        f"to build one from: {BUILD_HINT}, or point EVIDENCE_DATA_DIR at a data folder"
    )


# --- verdicts ----------------------------------------------------------------------------------


def load_registry(data_dir: Path) -> Registry | None:
    """The claims registry of a data folder (parts, tested questions), None when there is none.

    A store can be opened without its registry; its claims are then graded whole.
    """
    path = data_dir / "claims.yaml"
    return load_claims(path) if path.is_file() else None


def current_verdicts(
    tables: Mapping[str, pd.DataFrame],
    as_of: date | None = None,
    *,
    registry: Registry | None = None,
) -> dict[str, Verdict]:
    """Every claim's verdict graded from the tables as they are now (only linked records read).

    ``registry`` supplies claim parts and tested questions, as `evidence.pipeline` grades them.
    """
    links = tables["links"]
    return grade_claims(
        tables["claims"],
        links,
        pd.DataFrame(),
        pd.DataFrame(),
        facts=linked_facts(tables, set(links["pmid"])),
        as_of=as_of or datetime.now(UTC).date(),
        registry=registry,
    )


# --- one claim ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimDetail:
    claim_id: str
    statement: str
    quote: str
    content_file: str
    topics: tuple[str, ...]
    verdict: Verdict
    evidence: pd.DataFrame  # one row per linked study, EVIDENCE_COLUMNS
    deciding: tuple[str, ...] = field(default=())  # PMIDs of the deciding studies


DETAIL_RECORD_COLUMNS = ["pmid", "title", "journal", "pub_year", "doi", "abstract", "retracted"]
EVIDENCE_COLUMNS = [
    "pmid",
    "title",
    "year",
    "journal",
    "design",
    "level",
    "n",
    "stance",
    "stance_origin",
    "direct",
    "indirect_because",
    "confidence",
    "relevance",
    "retracted",
    "deciding",
    "note",
    "curator_note",
    "stance_evidence",
    "abstract",
    "pubmed_url",
    "doi_url",
]


def claim_detail(
    tables: Mapping[str, pd.DataFrame], claim_id: str, verdict: Verdict
) -> ClaimDetail:
    """A claim with its verdict and the table of every study linked to it."""
    claims = tables["claims"]
    hit = claims[claims["claim_id"].eq(claim_id)]
    if hit.empty:
        raise KeyError(f"unknown claim {claim_id!r}")
    claim = hit.iloc[0]
    links = tables["links"]
    links = links[links["claim_id"].eq(claim_id)]
    linked = set(links["pmid"])
    records = rows_of(tables, "records", linked, DETAIL_RECORD_COLUMNS)
    facts = facts_of(linked_facts(tables, linked), load_rubric())
    rec = {str(r["pmid"]): r for r in records.to_dict("records")}  # one lookup a link
    deciding = tuple(s.pmid for s in verdict.deciding)
    rows = []
    for link in links.itertuples(index=False):
        pmid = str(link.pmid)
        r = rec.get(pmid)
        f = facts.get(pmid, {})
        direct, because = directness(link._asdict(), f)
        doi = as_text(r["doi"]) if r is not None else ""
        rows.append(
            {
                "pmid": pmid,
                "title": as_text(r["title"]) if r is not None else "",
                "year": _int(r["pub_year"]) if r is not None else None,
                "journal": as_text(r["journal"]) if r is not None else "",
                "design": f.get("design", "other"),
                "level": f.get("level"),
                "n": f.get("sample_size"),
                "stance": link.stance,
                "stance_origin": link.stance_origin,
                "direct": direct,
                "indirect_because": because,
                "confidence": _float(link.stance_confidence),
                "relevance": _float(link.relevance),
                "retracted": bool(f.get("retracted", False)),
                "deciding": pmid in deciding,
                "note": as_text(link.note),
                "curator_note": as_text(link.curator_note),
                "stance_evidence": as_text(link.stance_evidence),
                "abstract": as_text(r["abstract"]) if r is not None else "",
                "pubmed_url": PUBMED_URL.format(pmid),
                "doi_url": DOI_URL.format(quote(doi, safe="/")) if doi else "",
            }
        )
    evidence = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    if len(evidence):
        evidence = evidence.assign(
            _s=evidence["stance"].map(STANCE_ORDER), _l=evidence["level"].fillna(9)
        )
        evidence = evidence.sort_values(["_s", "_l", "year"], ascending=[True, True, False])
        evidence = evidence.drop(columns=["_s", "_l"]).reset_index(drop=True)
    for col in ("year", "level", "n"):
        evidence[col] = evidence[col].astype("Int64")
    return ClaimDetail(
        claim_id=claim_id,
        statement=str(claim["statement"]),
        quote=str(claim["quote"]),
        content_file=str(claim["content_file"]),
        topics=tuple(as_list(claim["topics"])),
        verdict=verdict,
        evidence=evidence,
        deciding=deciding,
    )


def study_text(abstract: str, note: str) -> tuple[str, str]:
    """What to show for a study: its abstract, or else the curator's note (label, text)."""
    if abstract.strip():
        return "Abstract", abstract
    if note.strip():
        return "Curator's note (no abstract stored)", note
    return "", ""


def relevant_passages(claim: str, text: str, k: int = 2) -> list[tuple[str, bool]]:
    """``text`` cut into pieces, the ``k`` sentences sharing most words with the claim marked.

    Joining the pieces gives back ``text``. Scores are shared content stems over the square root
    of the sentence length, so a long sentence does not win by size alone.
    """
    if not text:
        return []
    stems = content_stems(claim)
    spans: list[tuple[int, int, float]] = []
    pos = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, pos)
        if start < 0:
            continue
        end = start + len(sentence)
        pos = end
        own = content_stems(sentence)
        overlap = len(stems & own)
        spans.append((start, end, overlap / math.sqrt(max(1, len(tokens(sentence))))))
    best = sorted((s for s in spans if s[2] > 0), key=lambda s: (-s[2], s[0]))[:k]
    marked = [(s, e, "relevant") for s, e, _ in best]
    return [(seg, tag is not None) for seg, tag in highlight_segments(text, marked)]


# --- the clinic's posts ------------------------------------------------------------------------


def posts(tables: Mapping[str, pd.DataFrame], content_dir: Path) -> list[str]:
    """Posts that exist in the content folder, those with claims first."""
    with_claims = sorted(set(tables["claims"]["content_file"]))
    return [p for p in with_claims if (content_dir / p).is_file()] + [
        p for p in list_posts(content_dir) if p not in with_claims
    ]


def post_segments(
    tables: Mapping[str, pd.DataFrame],
    content_dir: Path,
    name: str,
    verdicts: Mapping[str, Verdict],
) -> list[tuple[str, str | None, str | None]]:
    """The post's text cut into ``(segment, claim_id, grade)``; claim sentences carry theirs.

    Spans come from the claims table (quote_start/quote_end), which the registry loader checked
    against this very post.
    """
    post = read_post(content_dir / name)
    claims = tables["claims"]
    mine = claims[claims["content_file"].eq(name)]
    spans = [
        (int(c.quote_start), int(c.quote_end), str(c.claim_id))
        for c in mine.itertuples(index=False)
        if not pd.isna(c.quote_start) and not pd.isna(c.quote_end)
    ]
    out = []
    for seg, cid in highlight_segments(post.text, spans, start=post.body_start):
        grade = verdicts[cid].grade if cid is not None and cid in verdicts else None
        out.append((seg, cid, grade))
    return out


def columns(tables: Mapping[str, pd.DataFrame], name: str, cols: list[str]) -> pd.DataFrame:
    """Some columns of a table; from a store snapshot only those are decoded (100k records with
    abstracts and MeSH cost over a GiB as full pandas objects, a few columns a few MiB)."""
    key_frame = getattr(tables, "key_frame", None)
    return key_frame(name, cols) if key_frame is not None else tables[name][cols]


# --- helpers -----------------------------------------------------------------------------------


def levels_legend() -> str:
    """What an evidence level means, in words, from the rubric."""
    return why.levels_legend(load_rubric())


def grade_legend() -> list[tuple[str, str]]:
    return [(g, GRADE_COLOURS[g]) for g in GRADES]


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)

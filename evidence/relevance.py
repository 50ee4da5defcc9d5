"""How relevant each record is to each claim (BM25), and the candidate links that follow from it.

Relevance is BM25 (Lucene variant, via bm25s) of the claim's statement plus its query terms
against the record's title, abstract, MeSH descriptors and keywords, divided by the largest score
that query could reach (the sum of its terms' IDF). It is therefore a 0-1 share of the claim's
query weight the record matches, comparable across claims, so one threshold serves all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import bm25s
import numpy as np
import pandas as pd

from .cells import as_list
from .schema import LINKS

DEFAULT_THRESHOLD = 0.2
_FIELD_TAG = re.compile(r"\[[^\]]*\]")
_BOOLEAN = re.compile(r"\b(?:AND|OR|NOT)\b")
_SPLIT = re.compile(r'[()"]|\bAND\b|\bOR\b|\bNOT\b')
_DATE_LIKE = re.compile(r"^[\d/:\s.-]*$")


def query_terms(pubmed_query: str | None) -> list[str]:
    """Words and phrases of a PubMed query without field tags, booleans, wildcards or dates."""
    if not isinstance(pubmed_query, str) or not pubmed_query.strip():
        return []
    text = _FIELD_TAG.sub(" ", pubmed_query)
    terms: list[str] = []
    for part in _SPLIT.split(text):
        phrase = " ".join(part.replace("*", " ").split()).strip(" ,;")
        if phrase and not _DATE_LIKE.match(phrase) and phrase.lower() not in terms:
            terms.append(phrase.lower())
    return terms


def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: Snowball stemmers, so "antidepressants" finds "antidepressant"
    except ImportError:  # pragma: no cover - relevance still works, only less forgiving
        return None
    return Stemmer.Stemmer("english")


def record_text(records: pd.DataFrame) -> list[str]:
    """Title, abstract, MeSH descriptors and keywords of each record, as one string."""
    n = len(records)

    def col(name: str) -> Iterable[Any]:
        return records[name] if name in records.columns else [None] * n

    out = []
    for title, abstract, mesh, keywords in zip(
        col("title"), col("abstract"), col("mesh"), col("keywords"), strict=True
    ):
        parts = [
            title if isinstance(title, str) else "",
            abstract if isinstance(abstract, str) else "",
        ]
        parts += [m.get("descriptor") or "" for m in as_list(mesh) if isinstance(m, dict)]
        parts += [str(k) for k in as_list(keywords)]
        out.append(" ".join(p for p in parts if p))
    return out


def claim_queries(
    claims: pd.DataFrame, topic_queries: Mapping[str, str] | None = None
) -> dict[str, str]:
    """claim_id -> query text: statement, terms of its own query, terms of its topics' queries."""
    topic_queries = topic_queries or {}
    out = {}
    for row in claims.itertuples(index=False):
        parts = [str(row.statement or "")]
        parts += query_terms(getattr(row, "query", None))
        for topic in as_list(getattr(row, "topics", None)):
            parts += query_terms(topic_queries.get(str(topic)))
        out[str(row.claim_id)] = " ".join(parts)
    return out


def score_relevance(
    records: pd.DataFrame,
    claims: pd.DataFrame,
    topic_queries: Mapping[str, str] | None = None,
    *,
    min_relevance: float = 0.0,
) -> pd.DataFrame:
    """(claim_id, pmid, relevance) for every pair scoring above ``min_relevance`` (0-1 scale)."""
    empty = pd.DataFrame({"claim_id": [], "pmid": [], "relevance": []}).astype(
        {"claim_id": str, "pmid": str, "relevance": float}
    )
    if records.empty or claims.empty:
        return empty
    stemmer = _stemmer()
    corpus = bm25s.tokenize(
        record_text(records), stopwords="en", stemmer=stemmer, show_progress=False
    )
    if not corpus.vocab:  # e.g. only curated stubs without title or abstract yet
        return empty
    retriever = bm25s.BM25(method="lucene")
    retriever.index(corpus, show_progress=False)
    n_docs = retriever.scores["num_docs"]
    df = np.diff(retriever.scores["indptr"]).astype(np.float64)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    vocab: dict[str, int] = retriever.vocab_dict
    pmids = records["pmid"].astype(str).to_numpy()
    frames = []
    for claim_id, text in claim_queries(claims, topic_queries).items():
        tokens = bm25s.tokenize(
            [text], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        ids = sorted({vocab[t] for t in tokens if t in vocab})
        if not ids:
            continue
        scores = retriever.get_scores_from_ids(ids) / idf[ids].sum()
        keep = np.flatnonzero(scores > min_relevance)
        frames.append(
            pd.DataFrame(
                {"claim_id": claim_id, "pmid": pmids[keep], "relevance": scores[keep].astype(float)}
            )
        )
    if not frames:
        return empty
    return pd.concat(frames, ignore_index=True)


def candidate_links(
    scores: pd.DataFrame,
    links: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
    actor: str = "relevance",
) -> pd.DataFrame:
    """New links for pairs at or above ``threshold`` and relevance updates for existing links.

    Returns only the rows that are new or whose relevance changed, LINKS-shaped. A new link is
    "unassessed"; an existing link keeps its stance, origin, confidence, evidence and note (a
    curator's judgement is never overwritten), and gets its relevance refreshed even when it is
    below the threshold, so the dashboard shows how well the record matches today.
    """
    now = now or datetime.now(UTC)
    scored = scores.set_index(["claim_id", "pmid"])["relevance"]
    existing = links.copy()
    key = list(zip(existing["claim_id"], existing["pmid"], strict=True))
    new_relevance = scored.reindex(key).to_numpy() if len(key) else np.array([])
    old = existing["relevance"].to_numpy(dtype=float, na_value=np.nan)
    changed = ~np.isnan(new_relevance) & ~np.isclose(old, new_relevance, equal_nan=False)
    updated = existing[changed].copy()
    updated["relevance"] = new_relevance[changed]
    updated["updated_at"] = now
    updated["updated_by"] = actor
    linked = set(key)
    above = scores[scores["relevance"] >= threshold]
    unlinked = [(c, p) not in linked for c, p in zip(above["claim_id"], above["pmid"], strict=True)]
    fresh = above[np.array(unlinked, dtype=bool)]
    new = pd.DataFrame(
        {
            "claim_id": fresh["claim_id"].to_numpy(),
            "pmid": fresh["pmid"].to_numpy(),
            "relevance": fresh["relevance"].to_numpy(dtype=float),
            "stance": "unassessed",
            "stance_origin": "unassessed",
            "stance_confidence": np.nan,
            "stance_evidence": None,
            "note": None,
            # Not yet judged: direct until a curator says otherwise; it cannot count before then.
            "direct": True,
            "indirect_because": "",
            "in_latest_query": None,
            "first_linked_run": run_id,
            "updated_at": now,
            "updated_by": actor,
        }
    )
    parts = [p for p in (updated, new) if len(p)]
    if not parts:
        return LINKS.empty()
    return LINKS.conform(pd.concat(parts, ignore_index=True))

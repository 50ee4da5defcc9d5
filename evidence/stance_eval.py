"""Ranking measures for stance suggestions: do the studies that decide a claim come first?

Curators read suggestions in order, so what matters is whether the records that support or
contradict a claim are near the top of its list, not only whether each label is right. Scores
may tie (a relevance of 0, a rule that sees nothing); tied records are counted in their expected
position under a random order, so that ties neither help nor hurt, and a constant score gives
exactly the random-order baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def expected_hits_at_k(scores: Sequence[float], relevant: Sequence[bool], k: int) -> float:
    """Expected number of relevant items among the k highest scores, ties in random order."""
    if len(scores) != len(relevant):
        raise ValueError("scores and relevant must have the same length")
    if k < 0:
        raise ValueError("k must be >= 0")
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(relevant, dtype=bool)
    if np.isnan(s).any():
        raise ValueError("scores must not be NaN")
    hits = 0.0
    left = min(k, len(s))
    for level in np.unique(s)[::-1]:  # distinct scores, highest first
        if left == 0:
            break
        group = s == level
        size = int(group.sum())
        take = min(left, size)
        hits += take * r[group].sum() / size  # a random `take` of the tied group
        left -= take
    return float(hits)


def capped_recall_at_k(scores: Sequence[float], relevant: Sequence[bool], k: int) -> float:
    """Relevant items in the top k over the most that fit there, min(k, #relevant); 1 = perfect.

    NaN when nothing is relevant (the claim says nothing about the ranking).
    """
    n_relevant = int(np.sum(relevant))
    if n_relevant == 0 or k == 0:
        return float("nan")
    return expected_hits_at_k(scores, relevant, k) / min(k, n_relevant)


def r_precision(scores: Sequence[float], relevant: Sequence[bool]) -> float:
    """Share of relevant items among the top R, where R = #relevant (recall = precision there)."""
    return capped_recall_at_k(scores, relevant, int(np.sum(relevant)))


def random_capped_recall_at_k(n: int, n_relevant: int, k: int) -> float:
    """What a random order scores on average: E[hits] = k' * R / n with k' = min(k, n)."""
    if n_relevant == 0 or k == 0:
        return float("nan")
    return min(k, n) * n_relevant / n / min(k, n_relevant)


@dataclass(frozen=True)
class RankingScore:
    """Mean over queries (claims) of capped recall@k and of R-precision; each query counts once."""

    k: int
    recall_at_k: float
    r_precision: float
    queries: int


def query_measures(
    queries: Mapping[str, tuple[Sequence[float], Sequence[bool]]], k: int
) -> dict[str, tuple[float, float]]:
    """query -> (capped recall@k, R-precision), for queries with at least one relevant item."""
    return {
        name: (capped_recall_at_k(scores, relevant, k), r_precision(scores, relevant))
        for name, (scores, relevant) in queries.items()
        if any(relevant)
    }


def rank_queries(
    queries: Mapping[str, tuple[Sequence[float], Sequence[bool]]], k: int
) -> RankingScore:
    """Average the measures over queries that have at least one relevant item."""
    measures = query_measures(queries, k)
    if not measures:
        return RankingScore(k, float("nan"), float("nan"), 0)
    recalls, rprecs = zip(*measures.values(), strict=True)
    return RankingScore(k, float(np.mean(recalls)), float(np.mean(rprecs)), len(measures))

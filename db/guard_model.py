"""Loads the ethics stage's models (WordLlama and MiniLM, shipped in wheels) once, offline.

The server's lifespan calls `load_guard()` once at start-up (unless
ETHICS_SEMANTIC_GUARD is off), keeps the `engine.ethics.semantic.SemanticGuard` it returns
on the AppState, and the resolvers pass it to `engine.process` and `engine.evaluate_ethics`.
The guard is read-only, so one per process is shared by every app in it (tests start many).
`load_guard()` reads two files from the installed `wordllama` package: the
l2_supercat 256-dimension embedding matrix (safetensors) and its tokenizer
(tokenizers JSON). It never touches a network: `WordLlama.load()` would try to
download the tokenizer config although the wheel ships it, so the inference is
rebuilt here from the shipped files (average of token vectors, L2-normalised,
exactly what `WordLlamaInference.embed(norm=True)` computes). The `wordllama`
package itself is not imported: its `__init__` calls `logging.basicConfig`.
The guard also carries the contextual stage: db/guard_encoder.py's MiniLM encoder and the
head shipped in engine/ethics/data/contextual_head.json.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from db.guard_encoder import load_encoder
from engine.ethics import POLICY
from engine.ethics.contextual import ContextualStage, shipped_head
from engine.ethics.semantic import SemanticGuard, build_guard

MODEL_CONFIG = "l2_supercat"
MODEL_DIM = 256
_WEIGHTS = f"weights/{MODEL_CONFIG}_{MODEL_DIM}.safetensors"
_TOKENIZER = f"tokenizers/{MODEL_CONFIG}_tokenizer_config.json"


class WordLlamaEmbedder:
    """WordLlama static embeddings: each text is the mean of its tokens' vectors, unit length."""

    def __init__(self, matrix: NDArray[np.float32], tokenizer: Tokenizer, name: str) -> None:
        # A text's token vectors are gathered as rows (each 1 KB, contiguous: twice as fast
        # as picking them out of a transposed matrix's 256 rows) and then transposed, so
        # that reduceat sums contiguous runs, four times faster than runs down strided
        # columns (200-character texts: 15 µs a text instead of 66) and in the same order
        # (numpy's pairwise sum of each run), so the sums are the same to the bit.
        self._rows = np.ascontiguousarray(matrix)
        self._tokenizer = tokenizer
        self._name = name

    @property
    def name(self) -> str:
        """The model's name and dimension, e.g. "wordllama l2_supercat 256d"."""
        return self._name

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length mean token embeddings, one row per text (a text without tokens: zeros).

        Texts are tokenised one by one on the calling thread: `encode_batch` would
        fan out to the tokenizers' thread pool, which costs more than it saves on
        sentence-sized inputs and would not keep the engine on one core.
        """
        vocabulary, width = self._rows.shape
        id_lists = [self._tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
        lengths = np.array([len(ids) for ids in id_lists], dtype=np.int64)
        out = np.zeros((len(texts), width), dtype=np.float32)
        present = lengths > 0
        if not present.any():
            return out
        total = int(lengths.sum())
        flat = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int64, count=total)
        np.clip(flat, 0, vocabulary - 1, out=flat)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[present]
        gathered = np.ascontiguousarray(self._rows[flat].T)
        sums = np.ascontiguousarray(np.add.reduceat(gathered, starts, axis=1).T)
        means = sums / lengths[present, None].astype(np.float32)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        out[present] = np.where(norms > 0, means / np.where(norms > 0, norms, 1.0), 0.0)
        return out


def wordllama_root() -> Path:
    """The installed `wordllama` package's folder, found without importing it."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the wordllama package is not installed (see pyproject.toml)")
    return Path(next(iter(spec.submodule_search_locations)))


def load_embedder(root: Path | None = None) -> WordLlamaEmbedder:
    """Read WordLlama's shipped weights and tokenizer from `root` (default: installed package)."""
    base = wordllama_root() if root is None else root
    matrix = load_file(str(base / _WEIGHTS))["embedding.weight"].astype(np.float32)
    tokenizer = Tokenizer.from_file(str(base / _TOKENIZER))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return WordLlamaEmbedder(
        np.ascontiguousarray(matrix), tokenizer, f"wordllama {MODEL_CONFIG} {MODEL_DIM}d"
    )


@functools.cache
def load_guard(root: Path | None = None, contextual: bool = True) -> SemanticGuard:
    """The embedder plus the engine's shipped exemplars, embedded once, and unless
    `contextual` is False the contextual stage (encoder + trained head): pass it to the engine."""
    categories = tuple(POLICY.categories)
    stage = ContextualStage(load_encoder(), shipped_head(categories)) if contextual else None
    return build_guard(load_embedder(root), categories, stage)

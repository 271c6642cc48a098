"""The semantic layer: nearest written exemplars per hazard category, by sentence embedding.

The engine does no I/O, so the embedding model comes in as an argument: anything
with the `Embedder` shape (db/guard_model.py loads WordLlama; without a guard the stage
runs rules only). A `SemanticGuard` embeds the exemplars once; `screen` then embeds each
segment and compares it with every exemplar by cosine similarity. A guard may also carry
the contextual stage (engine/ethics/contextual.py), which reads the segments this layer
finds near harm with a sentence encoder.
A segment matches a hazard category when its nearest harmful exemplar is at
least `threshold` similar AND at least `margin` more similar than its nearest
benign look-alike exemplar ("how do I kill a process" sits nearer the benign
"how do I kill a process on Linux" than any harmful one). Similarities are
rounded to 4 decimals before any comparison, so results are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.errors import DataError

if TYPE_CHECKING:
    from engine.ethics.contextual import ContextualStage

BENIGN = "benign"
_DECIMALS = 4


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text (shape: len(texts) x dim)."""

    @property
    def name(self) -> str:
        """The model's name and version, shown in the reasoning."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length embeddings of `texts`, in order; must be deterministic."""
        ...


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A written example of a hazard category (S1..S14) or of a benign look-alike ("benign")."""

    text: str
    category: str


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """A segment's nearest harmful exemplar and its nearest benign one, with cosine similarities."""

    category: str
    similarity: float
    exemplar: Exemplar
    benign_similarity: float
    benign_exemplar: Exemplar | None


@dataclass(frozen=True, slots=True)
class ExemplarSet:
    """The shipped exemplars with their calibrated threshold and margin."""

    exemplars: tuple[Exemplar, ...]
    threshold: float
    margin: float


def load_exemplars(text: str, categories: Sequence[str]) -> ExemplarSet:
    """Parse and validate an exemplars document (the JSON text of data/exemplars.json)."""
    document = json.loads(text)
    known = set(categories) | {BENIGN}
    exemplars = []
    for entry in document["exemplars"]:
        category = str(entry["category"])
        if category not in known:
            raise DataError(f"exemplars.json: unknown category {category!r}")
        exemplars.append(Exemplar(str(entry["text"]), category))
    threshold, margin = float(document["threshold"]), float(document["margin"])
    if not 0 < threshold < 1 or not 0 <= margin < 1:
        raise DataError("exemplars.json: threshold must be in (0, 1) and margin in [0, 1)")
    return ExemplarSet(tuple(exemplars), threshold, margin)


class SemanticGuard:
    """An embedder plus embedded exemplars; build once, share between requests (read-only)."""

    def __init__(
        self,
        embedder: Embedder,
        exemplars: Sequence[Exemplar],
        threshold: float,
        margin: float,
        contextual: ContextualStage | None = None,
    ) -> None:
        if not any(e.category != BENIGN for e in exemplars):
            raise DataError("a semantic guard needs at least one harmful exemplar")
        self.embedder = embedder
        self.exemplars = tuple(exemplars)
        self.threshold = threshold
        self.margin = margin
        self.contextual = contextual
        self.vectors = _embed(embedder, tuple(e.text for e in self.exemplars))
        self._harmful = np.array([e.category != BENIGN for e in self.exemplars])

    def match(self, texts: Sequence[str]) -> list[SemanticMatch | None]:
        """For each text, its `SemanticMatch` when it passes threshold and margin, else None."""
        return self.screen(texts)[0]

    def screen(self, texts: Sequence[str]) -> tuple[list[SemanticMatch | None], list[float]]:
        """For each text, its `SemanticMatch` (or None), and its nearest harmful similarity.

        Similarity is the cosine of the two unit vectors, in [-1, 1], rounded
        to 4 decimals. A benign similarity of -1 means there is no benign exemplar.
        """
        if not texts:
            return [], []
        # einsum, not `@`: a BLAS matrix product may fan out to a thread pool, which on a
        # busy machine costs more than this small product and takes the engine off its core.
        products = np.einsum("ij,kj->ik", _embed(self.embedder, tuple(texts)), self.vectors)
        scores = np.round(products, _DECIMALS)
        harmful = np.where(self._harmful, scores, -2.0)
        benign = np.where(self._harmful, -2.0, scores)
        # Whole-matrix argmax (the first maximum, as per row) and one conversion to Python
        # floats; the loop then only builds the matches.
        rows = np.arange(len(texts))
        best_index, benign_index = harmful.argmax(axis=1), benign.argmax(axis=1)
        results: list[SemanticMatch | None] = []
        nearest: list[float] = []
        for best, raw, nearest_benign, raw_benign in zip(
            best_index.tolist(),
            harmful[rows, best_index].tolist(),
            benign_index.tolist(),
            benign[rows, benign_index].tolist(),
            strict=True,
        ):
            similarity = round(raw, _DECIMALS)
            nearest.append(similarity)
            benign_similarity = max(-1.0, round(raw_benign, _DECIMALS))
            if similarity < self.threshold or similarity - benign_similarity < self.margin:
                results.append(None)
                continue
            exemplar = self.exemplars[best]
            results.append(
                SemanticMatch(
                    exemplar.category,
                    similarity,
                    exemplar,
                    benign_similarity,
                    self.exemplars[nearest_benign] if benign_similarity > -1.0 else None,
                )
            )
        return results, nearest


def _embed(embedder: Embedder, texts: tuple[str, ...]) -> NDArray[np.float32]:
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise DataError(f"embedder returned shape {vectors.shape} for {len(texts)} texts")
    return vectors


def shipped_exemplars(categories: Sequence[str]) -> ExemplarSet:
    """The exemplars shipped in engine/ethics/data/exemplars.json, with threshold and margin."""
    text = resources.files("engine.ethics.data").joinpath("exemplars.json").read_text("utf-8")
    return load_exemplars(text, categories)


def build_guard(
    embedder: Embedder, categories: Sequence[str], contextual: ContextualStage | None = None
) -> SemanticGuard:
    """A guard over the shipped exemplars with their calibrated threshold and margin."""
    shipped = shipped_exemplars(categories)
    return SemanticGuard(embedder, shipped.exemplars, shipped.threshold, shipped.margin, contextual)

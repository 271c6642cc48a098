"""The contextual stage: a sentence encoder plus a linear head trained on our labelled set.

Static embeddings (the semantic layer) are lexical, so a paraphrase with no word in common
with an exemplar is missed and a homonym is matched. A transformer encoder reads words in
context; a multinomial logistic head over its vectors (15 classes: S1-S14 and "benign",
trained by bench/ethics_head.py, shipped in data/contextual_head.json) turns a sentence
into P(category). It costs ~2-3 ms a sentence on one core (int8, ~0.11 ms a word piece, up
to ~8 ms at the 64-piece cap), so it reads only the sentences that need it (`select`):
those whose nearest harmful exemplar in the static layer is at least GATE_SIMILARITY
similar (chosen by bench/ethics_gate.py on our training rows) and that no rule or static
match already judged: the first FIRST_READ of them in text order and the last LAST_READ.
Reading only the first ones let a preamble hide the request after it (a third of ordinary
sentences pass the gate, so about 1 KB of ordinary text before a request took every read);
the last ones are where a long prompt usually asks. So text added on one side never takes
away the reading of a sentence at the other end: appending keeps the first FIRST_READ,
prepending the last LAST_READ. Only a sentence with FIRST_READ gated sentences before it and
LAST_READ after it goes unread: padding must now surround it, where FIRST_READ gated
sentences before it were enough.
The encoder comes in from outside (db/guard_encoder.py), like the semantic layer's model;
probabilities are rounded to 4 decimals before any comparison, so verdicts are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from engine.errors import DataError
from engine.ethics.context import read_framing
from engine.ethics.rules import POLICY
from engine.ethics.semantic import BENIGN, Embedder
from engine.ethics.static_findings import SEMANTIC_VOID_IN
from engine.ethics.types import SEVERITIES, Violation
from engine.text import Segment

RULE_PREFIX = "CTX-"
GATE_SIMILARITY = 0.30
FIRST_READ = 4
LAST_READ = 2
_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class ContextualHead:
    """The trained head: per class a weight row and a bias, and its thresholds on P(unsafe).

    `flag_threshold` and `refuse_threshold` say when the head's own reading flags or
    refuses; `clear_threshold`, below them, when it clears a doubted finding
    (engine.ethics.confirm): few harmful rows score under it (bench/ethics_head.py).
    """

    encoder: str
    classes: tuple[str, ...]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    flag_threshold: float
    refuse_threshold: float
    clear_threshold: float


@dataclass(frozen=True, slots=True)
class ContextualMatch:
    """A sentence the head reads as unsafe: its most likely hazard category and P(unsafe)."""

    category: str
    probability: float
    category_probability: float
    refuse: bool


def load_head(text: str, categories: Sequence[str]) -> ContextualHead:
    """Parse and validate a head document (the JSON text of data/contextual_head.json)."""
    document = json.loads(text)
    classes = tuple(str(c) for c in document["classes"])
    if BENIGN not in classes or not set(classes) - {BENIGN} <= set(categories):
        raise DataError("contextual_head.json: classes must be hazard categories and 'benign'")
    weights = np.array(document["weights"], dtype=np.float64)
    bias = np.array(document["bias"], dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != len(classes) or bias.shape != (len(classes),):
        raise DataError("contextual_head.json: one weight row and one bias per class")
    flag, refuse = float(document["flag_threshold"]), float(document["refuse_threshold"])
    clear = float(document["clear_threshold"])
    if not 0 < clear <= flag <= refuse < 1:
        raise DataError(
            "contextual_head.json: need 0 < clear_threshold <= flag_threshold"
            " <= refuse_threshold < 1"
        )
    return ContextualHead(str(document["encoder"]), classes, weights, bias, flag, refuse, clear)


def shipped_head(categories: Sequence[str]) -> ContextualHead:
    """The head shipped in engine/ethics/data/contextual_head.json."""
    data = resources.files("engine.ethics.data").joinpath("contextual_head.json")
    return load_head(data.read_text("utf-8"), categories)


class ContextualStage:
    """An encoder and the head trained on its vectors; read-only, shared between requests."""

    def __init__(self, encoder: Embedder, head: ContextualHead) -> None:
        if head.encoder != encoder.name:
            raise DataError(f"the head was trained on {head.encoder!r}, not {encoder.name!r}")
        self.encoder = encoder
        self.head = head
        self._benign = head.classes.index(BENIGN)

    def classify(self, texts: Sequence[str]) -> list[ContextualMatch | None]:
        """For each text, a `ContextualMatch` when P(unsafe) reaches the flag threshold."""
        if not texts:
            return []
        probabilities = self._probabilities(texts)
        results: list[ContextualMatch | None] = []
        for row in probabilities:
            unsafe = round(1.0 - float(row[self._benign]), _DECIMALS)
            if unsafe < self.head.flag_threshold:
                results.append(None)
                continue
            harmful = np.where(np.arange(len(row)) == self._benign, -1.0, row)
            best = int(np.argmax(harmful))
            results.append(
                ContextualMatch(
                    self.head.classes[best],
                    unsafe,
                    float(row[best]),
                    unsafe >= self.head.refuse_threshold,
                )
            )
        return results

    def unsafe_probability(self, texts: Sequence[str]) -> list[float]:
        """P(unsafe) = 1 - P(benign) of each text, rounded as `classify` rounds it."""
        if not texts:
            return []
        benign = self._probabilities(texts)[:, self._benign]
        return [round(1.0 - float(p), _DECIMALS) for p in benign]

    def _probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """P(class) of each text (rows) over the head's classes, rounded to _DECIMALS."""
        vectors = np.asarray(self.encoder.embed(texts), dtype=np.float64)
        if vectors.shape != (len(texts), self.head.weights.shape[1]):
            raise DataError(f"encoder returned shape {vectors.shape} for {len(texts)} texts")
        # einsum, not `@`: keep the product off BLAS's thread pool (see semantic.py).
        logits = np.einsum("ij,kj->ik", vectors, self.head.weights) + self.head.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probabilities: NDArray[np.float64] = np.round(
            exp / exp.sum(axis=1, keepdims=True), _DECIMALS
        )
        return probabilities


def select(judged: Sequence[bool], harm_similarity: Sequence[float]) -> list[int]:
    """Indexes of the segments the encoder reads, in text order (see the module docstring)."""
    gated = [
        i for i, done in enumerate(judged) if not done and harm_similarity[i] >= GATE_SIMILARITY
    ]
    if len(gated) <= FIRST_READ + LAST_READ:
        return gated
    return gated[:FIRST_READ] + gated[len(gated) - LAST_READ :]


def contextual_findings(
    stage: ContextualStage,
    segments: Sequence[Segment],
    found: list[list[Violation]],
    harm_similarity: Sequence[float],
    notes: list[str],
    read: Collection[int] = (),
) -> tuple[int, int]:
    """Read the selected segments; append each finding to its segment's list in `found`.

    A segment is judged when a finding of a hazard category is already in it, or when the
    model has already read it (`read`: for a second opinion, engine.ethics.confirm). A finding
    whose sentence reads as safety-seeking, fiction, history or definition is not counted,
    as for the semantic layer. Returns (segments read, findings added).
    """
    hazards = set(stage.head.classes) - {BENIGN}
    judged = [
        i in read or any(v.category in hazards for v in in_segment)
        for i, in_segment in enumerate(found)
    ]
    chosen = select(judged, harm_similarity)
    added = 0
    matches = stage.classify([segments[i].text for i in chosen])
    for index, match in zip(chosen, matches, strict=True):
        if match is None:
            continue
        segment = segments[index]
        rule_id = f"{RULE_PREFIX}{match.category}"
        context = read_framing(segment.text, POLICY).voids(SEMANTIC_VOID_IN)
        if context is not None:
            notes.append(f"Not counted: {rule_id} (P(unsafe) {match.probability:.2f}), {context}.")
            continue
        found[index].append(_finding(stage, segment, match, rule_id))
        added += 1
    return len(chosen), added


def _finding(
    stage: ContextualStage, segment: Segment, match: ContextualMatch, rule_id: str
) -> Violation:
    category = POLICY.categories[match.category]
    severity = category.semantic_severity
    if not match.refuse and SEVERITIES.index(severity) > SEVERITIES.index("high"):
        severity = "high"
    verdict = "refuse" if match.refuse else "flag"
    return Violation(
        rule_id=rule_id,
        category=match.category,
        category_name=category.name,
        severity=severity,
        start=segment.start,
        end=segment.end,
        matched_text=segment.text,
        explanation=(
            f"The contextual model ({stage.encoder.name} + a head trained on our labelled set)"
            f" reads it as {category.name.lower()}: P(unsafe) {match.probability:.2f},"
            f" P({match.category}) {match.category_probability:.2f}; at or above the"
            f" {verdict} threshold"
            f" {stage.head.refuse_threshold if match.refuse else stage.head.flag_threshold:.2f}."
        ),
        confidence=match.probability,
        reported=False,
        redact_as=None,
        mode="semantic",
    )

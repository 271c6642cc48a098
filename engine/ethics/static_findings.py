"""The static semantic layer's findings (`SEM-`): one per matched segment, with its exemplar.

A critical one refuses only if the contextual stage confirms it (engine.ethics.confirm).
"""

from __future__ import annotations

from engine.ethics.context import read_framing
from engine.ethics.rules import POLICY
from engine.ethics.semantic import SemanticGuard, SemanticMatch
from engine.ethics.types import Violation
from engine.text import Segment

STATIC_PREFIX = "SEM-"
SEMANTIC_VOID_IN = POLICY.mode_contexts.get("semantic", ())  # where semantic findings do not count


def semantic_confidence(similarity: float, threshold: float) -> float:
    """Confidence in [0.5, 1] of a semantic match: 0.5 at the threshold, rising linearly to 1
    at similarity 1 (an exact paraphrase of the exemplar)."""
    span = max(1e-9, 1.0 - threshold)
    return max(0.5, min(1.0, 0.5 + 0.5 * (similarity - threshold) / span))


def semantic_finding(
    segment: Segment,
    match: SemanticMatch,
    found: list[Violation],
    guard: SemanticGuard,
    notes: list[str],
) -> list[Violation]:
    """The semantic layer's finding for one segment, unless a context voids it or a rule of
    the same category already fired there (then it only corroborates, in the notes)."""
    framing = read_framing(segment.text, POLICY)
    context = framing.voids(SEMANTIC_VOID_IN)
    rule_id = f"{STATIC_PREFIX}{match.category}"
    if context is not None:
        notes.append(f"Not counted: {rule_id} (similarity {match.similarity:.2f}), {context}.")
        return []
    if any(v.category == match.category for v in found):
        notes.append(f"{rule_id} (similarity {match.similarity:.2f}) corroborates the rules.")
        return []
    category = POLICY.categories[match.category]
    confidence = semantic_confidence(match.similarity, guard.threshold)
    benign = (
        ""
        if match.benign_exemplar is None
        else (
            f"; nearest look-alike {match.benign_exemplar.text!r} at {match.benign_similarity:.2f}"
        )
    )
    return [
        Violation(
            rule_id=rule_id,
            category=match.category,
            category_name=category.name,
            severity=category.semantic_severity,
            start=segment.start,
            end=segment.end,
            matched_text=segment.text,
            explanation=(
                f"Reads like the {category.name.lower()} exemplar {match.exemplar.text!r}"
                f" (cosine similarity {match.similarity:.2f}{benign})."
            ),
            confidence=confidence,
            reported=False,
            redact_as=None,
            mode="semantic",
            similarity=match.similarity,
            exemplar=match.exemplar.text,
        )
    ]

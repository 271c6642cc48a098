"""The static semantic layer's findings (`SEM-`), and the contextual stage's second opinion
on the refusals they alone would make.

The static layer averages word vectors (WordLlama), so it cannot tell "choke a shotgun" from
"choke someone": a homonym near a harmful exemplar matches it. A critical `SEM-` finding
refuses on its own, and on text nothing was tuned on these matches were most of the
look-alikes refused (issue 17's fourth round, docs/engine-guard.md). So when the guard has a
contextual stage, a segment whose only critical findings are `SEM-` ones is read by it too
(`confirm_static`): the finding stays critical when the contextual model would itself flag
the segment (P(unsafe) at or above the head's flag threshold), and is lowered to high
(flagged, not refused) otherwise. Both judges must agree to refuse; either one flags.

Each segment's verdict depends on that segment alone and the first MAX_CONFIRM such
segments are read in text order, so appending text never changes an earlier segment's
findings (the monotonicity property). Beyond the cap a static finding stands unconfirmed:
a text with that many static-only matches is not short of evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.ethics.context import read_framing
from engine.ethics.contextual import ContextualStage
from engine.ethics.rules import POLICY
from engine.ethics.semantic import SemanticGuard, SemanticMatch
from engine.ethics.types import Severity, Violation
from engine.text import Segment

STATIC_PREFIX = "SEM-"
MAX_CONFIRM = 4
UNCONFIRMED_SEVERITY: Severity = "high"
_SEMANTIC_VOID_IN = POLICY.mode_contexts.get("semantic", ())


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
    context = framing.voids(_SEMANTIC_VOID_IN)
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


def needs_confirmation(in_segment: Sequence[Violation]) -> bool:
    """True when the segment's critical findings are all the static layer's (and there is one)."""
    critical = [v for v in in_segment if v.severity == "critical"]
    return bool(critical) and all(v.rule_id.startswith(STATIC_PREFIX) for v in critical)


def confirm_static(
    stage: ContextualStage, segments: Sequence[Segment], found: list[list[Violation]]
) -> tuple[int, int]:
    """Read the segments refused by the static layer alone; lower each unconfirmed critical
    `SEM-` finding to UNCONFIRMED_SEVERITY in place. Returns (read, lowered)."""
    chosen = [i for i, in_segment in enumerate(found) if needs_confirmation(in_segment)]
    chosen = chosen[:MAX_CONFIRM]
    lowered = 0
    threshold = stage.head.flag_threshold
    probabilities = stage.unsafe_probability([segments[i].text for i in chosen])
    for index, unsafe in zip(chosen, probabilities, strict=True):
        confirmed = unsafe >= threshold
        verdict = (
            f" Confirmed by the contextual model ({stage.encoder.name}): P(unsafe) {unsafe:.4f},"
            f" at or above its flag threshold {threshold:.4f}."
            if confirmed
            else f" Not confirmed by the contextual model ({stage.encoder.name}): P(unsafe)"
            f" {unsafe:.4f}, below its flag threshold {threshold:.4f}; flagged, not refused."
        )
        updated: list[Violation] = []
        for v in found[index]:
            if v.rule_id.startswith(STATIC_PREFIX) and v.severity == "critical":
                severity: Severity = v.severity if confirmed else UNCONFIRMED_SEVERITY
                lowered += 0 if confirmed else 1
                v = replace(v, severity=severity, explanation=v.explanation + verdict)
            updated.append(v)
        found[index] = updated
    return len(chosen), lowered

"""Leave-one-out attribution: how much each violation's span moves the ethical verdict.

Experimental (served to the RESEARCH tier). For each distinct span that a rule or detector
matched, the ethics stage runs again on the text with that span blanked — replaced by as
many spaces, so every other span keeps its offsets — and the span's attribution is the
overall score without it minus the score with it. A span whose removal alone lifts a block
is the reason the input was refused. It costs one ethics pass per span, so at most
MAX_ATTRIBUTED_SPANS spans are attributed, the most severe (then leftmost) first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.config import EngineConfig
from engine.ethics import EthicsResult, SemanticGuard, Violation
from engine.ethics.feedback import Feedback
from engine.ethics.types import SEVERITIES
from engine.pipeline import evaluate_ethics

MAX_ATTRIBUTED_SPANS = 16


@dataclass(frozen=True, slots=True)
class SpanAttribution:
    """One matched span and what the verdict would be without it."""

    start: int
    end: int
    matched_text: str
    rule_ids: tuple[str, ...]
    score_without: float
    score_change: float  # score_without - the overall score: the span's share of the harm
    blocked_without: bool


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """The verdict on the whole text and the attribution of each span, largest change first."""

    ethics: EthicsResult
    spans: tuple[SpanAttribution, ...]
    omitted_spans: int  # distinct spans beyond MAX_ATTRIBUTED_SPANS, not attributed


def attribute_violations(
    text: str,
    config: EngineConfig,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> AttributionResult:
    """Evaluate `text`, then each of its violation spans left out in turn (every pass with
    `guard` and `feedback`, as `evaluate_ethics` takes them)."""

    def evaluate(variant: str) -> EthicsResult:
        return evaluate_ethics(variant, config, guard, feedback)

    ethics = evaluate(text)
    by_span: dict[tuple[int, int], list[Violation]] = {}
    for violation in ethics.violations:
        by_span.setdefault((violation.start, violation.end), []).append(violation)
    ranked = sorted(by_span.items(), key=lambda item: (-_worst(item[1]), item[0]))
    attributed = ranked[:MAX_ATTRIBUTED_SPANS]
    spans = [
        _leave_out(text, start, end, found, ethics, evaluate) for (start, end), found in attributed
    ]
    spans.sort(key=lambda span: (-span.score_change, span.start, span.end))
    return AttributionResult(ethics, tuple(spans), len(ranked) - len(attributed))


def _worst(violations: list[Violation]) -> int:
    return max(SEVERITIES.index(v.severity) for v in violations)


def _leave_out(
    text: str,
    start: int,
    end: int,
    found: list[Violation],
    ethics: EthicsResult,
    evaluate: Callable[[str], EthicsResult],
) -> SpanAttribution:
    without = evaluate(text[:start] + " " * (end - start) + text[end:])
    return SpanAttribution(
        start=start,
        end=end,
        matched_text=found[0].matched_text,
        rule_ids=tuple(sorted({v.rule_id for v in found})),
        score_without=without.overall_score,
        score_change=round(without.overall_score - ethics.overall_score, 4),
        blocked_without=without.blocked,
    )

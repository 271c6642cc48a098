"""Composite measures: awareness level and ethical alignment, built from the stage results.

    awareness_level   = 0.6 * C + 0.2 * K + 0.2 * (P / 5)
    ethical_alignment = E * (1 - 0.5 * R)

C: self-awareness confidence; K: lexicon coverage (share of words found in
the sentiment or emotion lexicons, i.e. how much of the text the engine could
read evidence from); P: reflective passes run (1..5); E: overall ethical
score of this input; R: the agent's recent violation rate (an exponential
moving average of "this session had a violation", from the stored state; 0
for a new agent). All terms are in [0, 1], so both composites are too.
Confidence dominates awareness because it already folds in every limitation.
"""

from __future__ import annotations

from engine.config import MAX_METACOGNITION_DEPTH


def awareness_level(confidence: float, lexicon_coverage: float, passes_run: int) -> float:
    """Awareness level in [0, 1]: how well the engine could account for its own reading.

    0.6 * confidence + 0.2 * lexicon coverage + 0.2 * passes_run / 5.
    """
    depth = min(passes_run, MAX_METACOGNITION_DEPTH) / MAX_METACOGNITION_DEPTH
    level = 0.6 * confidence + 0.2 * lexicon_coverage + 0.2 * depth
    return max(0.0, min(1.0, level))


def ethical_alignment(ethical_score: float, recent_violation_rate: float) -> float:
    """Ethical alignment in [0, 1]: this input's ethical score, lowered by recent history.

    ethical_score * (1 - 0.5 * recent_violation_rate): an agent whose recent
    sessions all had violations sees its alignment halved at most.
    """
    value = ethical_score * (1.0 - 0.5 * recent_violation_rate)
    return max(0.0, min(1.0, value))

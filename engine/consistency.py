"""Cross-stage consistency: signals from different stages that contradict each other."""

from __future__ import annotations

from dataclasses import dataclass

from engine.emotion import EmotionResult
from engine.ethics.types import EthicsResult

POSITIVE_VALENCE = 0.3
STRONG_COMPOUND = 0.5


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two stages disagree: a stable code and a sentence saying how."""

    code: str
    message: str


def find_conflicts(emotion: EmotionResult, ethics: EthicsResult) -> tuple[Conflict, ...]:
    """The contradictions between the emotion and ethics stages, in a fixed order.

    - POSITIVE_TONE_WITH_HARM: valence above +0.3 while a high or critical
      rule fired (cheerful wording around a harmful request, or sarcasm).
    - MIXED_SENTIMENT: one segment at compound >= +0.5 and another at <= -0.5.
    """
    conflicts: list[Conflict] = []
    if emotion.valence > POSITIVE_VALENCE and ethics.max_severity in ("high", "critical"):
        conflicts.append(
            Conflict(
                "POSITIVE_TONE_WITH_HARM",
                f"The tone is positive (valence {emotion.valence:+.2f}) but a"
                f" {ethics.max_severity}-severity rule fired;"
                " the wording and the content disagree.",
            )
        )
    compounds = [s.compound for s in emotion.sentences]
    if compounds and max(compounds) >= STRONG_COMPOUND and min(compounds) <= -STRONG_COMPOUND:
        conflicts.append(
            Conflict(
                "MIXED_SENTIMENT",
                f"Sentences range from {min(compounds):+.2f} to {max(compounds):+.2f}:"
                " the text holds strongly opposite feelings, so one valence summarises it poorly.",
            )
        )
    return tuple(conflicts)

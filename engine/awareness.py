"""Self-awareness stage: how far the engine trusts its reading, what limited it, why it acted.

Confidence starts at 1 and each limitation that applies multiplies it by
(1 - penalty), where the penalty is computed from a measured quantity (word
count, marker counts, share of non-ASCII letters, characters dropped, stage
conflicts). The coefficients are documented policy choices, not measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.config import EngineConfig
from engine.consistency import find_conflicts
from engine.emotion import EmotionResult
from engine.ethics.types import Decision, EthicsResult
from engine.lexicons import STOP_WORDS
from engine.text import TextView

MIN_CLEAR_WORDS = 4
NEAR_THRESHOLD_MARGIN = 0.05
_HEDGE_WORDS = frozenset(
    {"maybe", "perhaps", "possibly", "probably", "might", "unclear", "somewhat", "apparently"}
)
_HEDGE_PHRASES = re.compile(
    r"\b(?:i guess|i suppose|sort of|kind of|not sure|or something|i think|it seems)\b"
)
_HEDGE_PHRASE_TRIGGERS = ("guess", "suppose", " of", "sure", "something", "think", "seems")
_CONFLICT_PENALTY = {"POSITIVE_TONE_WITH_HARM": 0.25, "MIXED_SENTIMENT": 0.1}


@dataclass(frozen=True, slots=True)
class Limitation:
    """A limitation that applied: stable code, sentence, and its confidence penalty in [0, 1]."""

    code: str
    message: str
    penalty: float


@dataclass(frozen=True, slots=True)
class SelfAwarenessResult:
    """Confidence in [0, 1] = product of (1 - penalty) over `limitations`; plus the reflection."""

    confidence: float
    limitations: tuple[Limitation, ...]
    decision: Decision
    reflection: str


def assess_self_awareness(
    view: TextView, emotion: EmotionResult, ethics: EthicsResult, config: EngineConfig
) -> SelfAwarenessResult:
    """Collect the limitations, compute confidence and reflect on the decision."""
    limitations = tuple(
        item
        for item in (
            _short_input(view),
            _hedging(view),
            _multiple_questions(view),
            _unsupported_language(view),
            _truncation(view, config),
            _little_evidence(view, emotion),
            _near_threshold(ethics, config),
        )
        if item is not None
    ) + tuple(
        Limitation(c.code, c.message, _CONFLICT_PENALTY[c.code])
        for c in find_conflicts(emotion, ethics)
    )
    confidence = 1.0
    for limitation in limitations:
        confidence *= 1.0 - limitation.penalty
    confidence = max(0.0, min(1.0, confidence))
    return SelfAwarenessResult(
        confidence=confidence,
        limitations=limitations,
        decision=ethics.decision,
        reflection=_reflect(ethics, confidence, limitations, config),
    )


def _short_input(view: TextView) -> Limitation | None:
    """Fewer than 4 words: penalty 0.1 per missing word (0.4 for empty input)."""
    words = len(view.tokens)
    if words >= MIN_CLEAR_WORDS:
        return None
    return Limitation(
        "SHORT_INPUT",
        f"The input has {words} word(s); there is little to read intent or tone from.",
        0.1 * (MIN_CLEAR_WORDS - words),
    )


def _hedging(view: TextView) -> Limitation | None:
    """Hedging/ambiguity markers: penalty min(0.3, 0.15 * markers per segment).

    Markers: single words (maybe, perhaps, might...) and phrases (I guess,
    sort of, not sure, I think...), counted case-insensitively.
    """
    count = sum(1 for token in view.tokens if token.lower in _HEDGE_WORDS)
    lowercase = view.text.lower()
    if any(trigger in lowercase for trigger in _HEDGE_PHRASE_TRIGGERS):
        count += len(_HEDGE_PHRASES.findall(lowercase))
    if not count:
        return None
    per_segment = count / max(1, len(view.segments))
    return Limitation(
        "HEDGING",
        f"The text hedges {count} time(s) (maybe, perhaps, I guess...),"
        " so its intent is uncertain.",
        min(0.3, 0.15 * per_segment),
    )


def _multiple_questions(view: TextView) -> Limitation | None:
    """More than one question: penalty min(0.2, 0.05 * (questions - 1))."""
    questions = sum(1 for s in view.segments if s.text.endswith("?"))
    if questions < 2:
        return None
    return Limitation(
        "MULTIPLE_QUESTIONS",
        f"The text asks {questions} questions; a single reading may not answer all of them.",
        min(0.2, 0.05 * (questions - 1)),
    )


def _unsupported_language(view: TextView) -> Limitation | None:
    """Likely not English: penalty 0.6 * u, applied when u >= 0.3.

    u = 1 - (1 - non-ASCII share of letters) * s, where s = min(1, stop-word
    share / 0.25) for inputs of 8+ words (English prose is about 40-50% stop
    words) and s = 1 for shorter inputs. The lexicons and rules are English.
    """
    if not any(token.lower.isalpha() for token in view.tokens):
        return None
    non_ascii = 0.0
    if not view.text.isascii():
        letters = [c for c in view.text if c.isalpha()]
        non_ascii = sum(1 for c in letters if not c.isascii()) / len(letters)
    stop_signal = 1.0
    if len(view.tokens) >= 8:
        stops = sum(1 for t in view.tokens if t.lower in STOP_WORDS) / len(view.tokens)
        stop_signal = min(1.0, stops / 0.25)
    unsupported = 1.0 - (1.0 - non_ascii) * stop_signal
    if unsupported < 0.3:
        return None
    return Limitation(
        "UNSUPPORTED_LANGUAGE",
        f"The text looks {unsupported:.0%} unlike English;"
        " the lexicons and rules are English only.",
        0.6 * unsupported,
    )


def _truncation(view: TextView, config: EngineConfig) -> Limitation | None:
    """Input cut at max_input_chars: penalty 0.2 + 0.3 * share of characters dropped."""
    if not view.truncated:
        return None
    dropped = 1.0 - len(view.text) / view.original_length
    return Limitation(
        "TRUNCATED",
        f"The input was cut at {config.max_input_chars} characters; {dropped:.0%} was not read.",
        0.2 + 0.3 * dropped,
    )


def _little_evidence(view: TextView, emotion: EmotionResult) -> Limitation | None:
    """Under 5% of 5+ words in the lexicons: penalty 0.1 (emotion rests on little)."""
    if len(view.tokens) < 5 or emotion.lexicon_coverage >= 0.05:
        return None
    return Limitation(
        "LITTLE_LEXICAL_EVIDENCE",
        f"Only {emotion.lexicon_coverage:.0%} of the words are in the sentiment and emotion"
        " lexicons, so the emotional reading rests on little evidence.",
        0.1,
    )


def _near_threshold(ethics: EthicsResult, config: EngineConfig) -> Limitation | None:
    """Ethical score within 0.05 of the blocking threshold: penalty 0.15 (fragile decision)."""
    if abs(ethics.overall_score - config.blocking_threshold) > NEAR_THRESHOLD_MARGIN:
        return None
    return Limitation(
        "NEAR_THRESHOLD",
        f"The ethical score {ethics.overall_score:.2f} is close to the blocking threshold"
        f" {config.blocking_threshold:.2f}; a small change in wording could flip the decision.",
        0.15,
    )


def _reflect(
    ethics: EthicsResult,
    confidence: float,
    limitations: tuple[Limitation, ...],
    config: EngineConfig,
) -> str:
    if ethics.decision == "REFUSED":
        why = "I refused because " + "; ".join(ethics.block_reasons) + "."
    elif ethics.decision == "FLAGGED":
        categories = ", ".join(dict.fromkeys(v.category_name for v in ethics.violations))
        why = (
            f"I answered but flagged {len(ethics.violations)} concern(s) ({categories}) because the"
            f" ethical score {ethics.overall_score:.2f} stayed at or above the threshold"
            f" {config.blocking_threshold:.2f} and no blocking rule fired."
        )
    else:
        why = (
            f"I answered because no rule or detector fired (ethical score"
            f" {ethics.overall_score:.2f})."
        )
    if limitations:
        worst = max(limitations, key=lambda item: item.penalty)
        doubt = f" My confidence is {confidence:.2f}; the largest doubt: {worst.message}"
    else:
        doubt = f" My confidence is {confidence:.2f}; no limitation applied."
    return why + doubt

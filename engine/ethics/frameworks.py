"""The three ethical frameworks, each scoring the same findings in [0, 1] (1 = no concern).

Every score is a product of factors in [0, 1], one per finding (or per
sentence for tone). Adding findings can only add factors, so no score — and
no weighted mean of them — can rise when appending a violating sentence only
adds findings: the monotonicity property. Rules, detectors and the static
layer judge each sentence alone, so for them it holds by construction; the
contextual stage reads the last two gated sentences too, and an appended
sentence it reads can move an earlier one out of its reading (see
engine/ethics/contextual.py and docs/engine-guard.md).

The severity scales below are policy choices, not measurements: they turn the
ordinal severities of rules.json into numbers, and are documented as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.ethics.types import FrameworkScore, Severity, Violation

# Utilitarian: the harm a finding does if it is what it looks like.
SEVERITY_HARM: dict[Severity, float] = {"low": 0.1, "medium": 0.3, "high": 0.6, "critical": 0.9}
# Deontological: how far breaking a rule of that severity falls from duty; a
# critical rule broken is a categorical failure (factor 0).
SEVERITY_PENALTY: dict[Severity, float] = {
    "low": 0.1,
    "medium": 0.25,
    "high": 0.5,
    "critical": 1.0,
}
REPORTED_SPEECH_DISCOUNT = 0.5
HOSTILE_COMPOUND = -0.5

_READER_WORDS = frozenset({"you", "your", "you're", "youre", "yours", "u", "ya"})
_RESPECT_TRIGGERS = ("please", "thank", "sorry", "appreciate", "respect", "kindly")
_HONESTY_TRIGGERS = ("honest", "frankly", "admit", "wrong", "mistake", "know", "not sure")
_RESPECT = re.compile(
    r"\b(?:please|thank you|thanks|sorry|i appreciate|respectfully|with respect|kindly)\b",
    re.IGNORECASE,
)
_HONESTY = re.compile(
    r"\b(?:honestly|to be honest|frankly|i admit|i was wrong|my mistake|i don't know"
    r"|i do not know|i'm not sure|i am not sure)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SegmentTone:
    """Tone signals of one segment, the virtue framework's evidence.

    `concern` in [0, 1] = max(offensive, hostility) * (1 - 0.25 * respect -
    0.25 * honesty), where offensive is the profanity probability when at or
    above the threshold (else 0) and hostility is -compound when VADER's
    compound is at most -0.5 and the segment addresses the reader ("you").
    Respect ("please", "thanks") and honesty ("to be honest", "I was wrong")
    markers each take a quarter off, never adding concern.
    """

    start: int
    profanity: float
    compound: float
    addresses_reader: bool
    respect: bool
    honesty: bool
    concern: float


def assess_tone(
    text: str,
    words: Iterable[str],
    start: int,
    profanity: float,
    compound: float,
    threshold: float,
) -> SegmentTone:
    """Compute a segment's tone signals and its virtue concern (see `SegmentTone`).

    `words` are the segment's lowercase word tokens.
    """
    lowercase = text.lower()
    addresses_reader = any(word in _READER_WORDS for word in words)
    respect = _has_marker(lowercase, _RESPECT_TRIGGERS, _RESPECT)
    honesty = _has_marker(lowercase, _HONESTY_TRIGGERS, _HONESTY)
    offensive = profanity if profanity >= threshold else 0.0
    hostility = -compound if compound <= HOSTILE_COMPOUND and addresses_reader else 0.0
    mitigation = 1.0 - 0.25 * respect - 0.25 * honesty
    concern = max(0.0, min(1.0, max(offensive, hostility) * mitigation))
    return SegmentTone(start, profanity, compound, addresses_reader, respect, honesty, concern)


def _has_marker(lowercase: str, triggers: tuple[str, ...], pattern: re.Pattern[str]) -> bool:
    """Run the marker regex only when one of its literal triggers occurs (it is slow)."""
    return any(t in lowercase for t in triggers) and pattern.search(lowercase) is not None


def utilitarian(violations: tuple[Violation, ...], weight: float) -> FrameworkScore:
    """Utilitarian score in [0, 1]: the probability that none of the findings does harm.

    U = prod over findings (1 - confidence * harm(severity) * d), where d is 0.5
    for a finding in reported speech (quoted: reporting harm has benefit, such
    as asking for help with what someone else said) and 1 otherwise. Each
    occurrence counts: more exposure, more expected harm.
    """
    score = 1.0
    for violation in violations:
        discount = REPORTED_SPEECH_DISCOUNT if violation.reported else 1.0
        score *= 1.0 - violation.confidence * SEVERITY_HARM[violation.severity] * discount
    expected_harm = 1.0 - score
    rationale = (
        f"Utilitarian: expected harm {expected_harm:.3f} from {len(violations)} finding(s)"
        f" weighed by confidence and severity; score {score:.3f}."
    )
    return FrameworkScore("utilitarian", score, weight, rationale)


def deontological(violations: tuple[Violation, ...], weight: float) -> FrameworkScore:
    """Deontological score in [0, 1]: how intact the rules are, whatever the consequences.

    D = prod over distinct rules broken (1 - penalty(severity)); a rule broken
    twice is broken once, and any critical rule broken gives 0.
    """
    broken: dict[str, Severity] = {}
    for violation in violations:
        broken.setdefault(violation.rule_id, violation.severity)
    score = 1.0
    for severity in broken.values():
        score *= 1.0 - SEVERITY_PENALTY[severity]
    listed = ", ".join(broken) if broken else "none"
    rationale = f"Deontological: rules broken: {listed}; score {score:.3f}."
    return FrameworkScore("deontological", score, weight, rationale)


def virtue(tones: tuple[SegmentTone, ...], weight: float) -> FrameworkScore:
    """Virtue score in [0, 1]: the civility of the tone, sentence by sentence.

    V = prod over segments (1 - concern), with concern as in `SegmentTone`.
    """
    score = 1.0
    for tone in tones:
        score *= 1.0 - tone.concern
    uncivil = sum(1 for tone in tones if tone.concern > 0)
    respectful = sum(1 for tone in tones if tone.respect or tone.honesty)
    rationale = (
        f"Virtue: {uncivil} of {len(tones)} sentence(s) offensive or hostile,"
        f" {respectful} with respect or honesty markers; score {score:.3f}."
    )
    return FrameworkScore("virtue", score, weight, rationale)

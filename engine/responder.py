"""Response content: a Protocol for responders, the default offline reflective responder, and
one that returns content composed beforehand (a language model's, an observed call's).

The default responder writes a short answer built only from the analysis —
what it understood, the tone, the concerns, what it is unsure of — so the same
input and state always give the same words. A blocked input gets no content.
Responders that call a language model live outside the engine (they do I/O).
Whatever such a responder writes, `process` runs the ethics stage on it too and sends
REFUSAL instead of content that stage blocks. The reflective responder's words are its
templates and topic terms of the input that already passed that stage (violation spans
and sentiment words excluded), so checking them again would only cost time (engine.process
on three short inputs with the guard: 1.94 ms with the check, 0.69 without) and flag the
templates' own words; it says so with `needs_check = False`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate
from typing import Protocol

from engine.awareness import SelfAwarenessResult
from engine.emotion import EmotionResult
from engine.ethics.rules import POLICY
from engine.ethics.types import EthicsResult
from engine.lexicons import STOP_WORDS, VADER_LEXICON
from engine.metacognition import MetacognitionResult
from engine.text import TextView

TOPIC_TERMS = 3
REFUSAL = (
    "I drafted an answer but it did not pass my ethics check, so I am not sending it."
    " Please rephrase or narrow the request."
)


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything a responder may use: the analysed text and every stage's result."""

    view: TextView
    emotion: EmotionResult
    ethics: EthicsResult
    awareness: SelfAwarenessResult
    metacognition: MetacognitionResult


class Responder(Protocol):
    """Turns an analysis into response content; None means no content (e.g. blocked).

    `needs_check`: whether `process` runs the ethics stage on the content (True for any
    text not built from the analysis alone, such as a language model's).
    """

    needs_check: bool

    def respond(self, analysis: Analysis) -> str | None:
        """Return the response text for `analysis`, or None for no content."""
        ...


class ReflectiveResponder:
    """The default responder: deterministic reflective text, no network."""

    needs_check = False  # built from the checked input's analysis (module docstring)

    def respond(self, analysis: Analysis) -> str | None:
        """Four sentences at most: understanding, tone, concerns, uncertainty."""
        if analysis.ethics.blocked:
            return None
        parts = [
            _understanding(analysis.view, analysis.ethics),
            _tone(analysis.emotion),
            _concerns(analysis.ethics, analysis.metacognition),
            _uncertainty(analysis.awareness),
        ]
        return " ".join(part for part in parts if part)


class FixedResponder:
    """Text composed beforehand (a language model's, an observed call's output; None: no
    content), None if the input is blocked. Kept here, with the engine, so that a worker
    process unpickling one imports nothing more than the engine (the model client's
    module cost the first call in a worker a second)."""

    needs_check = True  # a language model's words: the engine checks them

    def __init__(self, content: str | None) -> None:
        self._content = content

    def respond(self, analysis: Analysis) -> str | None:
        """The prepared content, unless the engine blocked the input."""
        return None if analysis.ethics.blocked else self._content


def topic_terms(view: TextView, ethics: EthicsResult) -> tuple[str, ...]:
    """The most frequent topic words: 3+ letters, not stop words, no sentiment, no violation.

    Ties go to the word seen first. Sentiment words (in the VADER lexicon) are
    tone rather than topic; words inside violation spans are skipped so that
    personal data or abuse is never echoed back.
    """
    spans = sorted((v.start, v.end) for v in ethics.violations)
    starts = [start for start, _ in spans]
    reach = list(accumulate((end for _, end in spans), max))  # furthest end so far
    words = [
        token.lower
        for token in view.tokens
        if len(token.lower) >= 3
        and token.lower.isalpha()
        and token.lower not in STOP_WORDS
        and token.lower not in VADER_LEXICON
        and not _covered(starts, reach, token.start, token.end)
    ]
    ranked = Counter(words).most_common()
    first_seen = {word: index for index, word in reversed(list(enumerate(words)))}
    ranked.sort(key=lambda item: (-item[1], first_seen[item[0]]))
    return tuple(word for word, _ in ranked[:TOPIC_TERMS])


def _covered(starts: list[int], reach: list[int], start: int, end: int) -> bool:
    """True when a span overlaps [start, end): of the spans (sorted by start) that begin
    before `end`, the furthest-reaching one ends after `start`."""
    count = bisect_left(starts, end)
    return count > 0 and reach[count - 1] > start


def _understanding(view: TextView, ethics: EthicsResult) -> str:
    if not view.tokens:
        return "I received no words to respond to."
    questions = sum(1 for s in view.segments if s.text.endswith("?"))
    asked = f", {questions} of them question(s)" if questions else ""
    terms = topic_terms(view, ethics)
    about = f" about {_join(terms)}" if terms else ""
    return f"You wrote {len(view.segments)} sentence(s) ({len(view.tokens)} words{asked}){about}."


def _tone(emotion: EmotionResult) -> str:
    if emotion.valence >= 0.05:
        mood = "positive"
    elif emotion.valence <= -0.05:
        mood = "negative"
    else:
        mood = "neutral"
    text = f"The tone reads {mood} (valence {emotion.valence:+.2f}, arousal {emotion.arousal:.2f})"
    if emotion.dominant_emotion is None:
        return text + "."
    words = [
        term.term.lower()
        for term in emotion.evidence
        if emotion.dominant_emotion in term.emotions and not term.negated
    ]
    cue = _join(tuple(f'"{w}"' for w in dict.fromkeys(words)), limit=3)
    return f"{text}, with {emotion.dominant_emotion} as the strongest emotion cue ({cue})."


def _concerns(ethics: EthicsResult, metacognition: MetacognitionResult) -> str:
    sentences = []
    if ethics.violations:
        codes = tuple(dict.fromkeys(v.category for v in ethics.violations))
        names = tuple(POLICY.categories[code].name.lower() for code in codes)
        sentences.append(f"I noticed possible {_join(names)} and flagged it for review.")
        notes = (POLICY.categories[code].user_note for code in codes)
        sentences.extend(note for note in notes if note)
    if metacognition.bias_markers:
        names = tuple(dict.fromkeys(m.name.lower() for m in metacognition.bias_markers))
        sentences.append(
            f"Some phrasing resembles {_join(names, limit=2)}; that is a wording pattern, not a"
            " judgement of you."
        )
    return " ".join(sentences)


def _uncertainty(awareness: SelfAwarenessResult) -> str:
    if not awareness.limitations:
        return f"I am fairly sure of this reading (confidence {awareness.confidence:.2f})."
    worst = max(awareness.limitations, key=lambda item: item.penalty)
    return f"I am unsure (confidence {awareness.confidence:.2f}): {worst.message}"


def _join(items: tuple[str, ...], limit: int = 3) -> str:
    items = items[:limit]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]

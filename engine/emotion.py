"""Emotion stage: valence, arousal and the eight basic emotions, each with its evidence.

Valence comes from VADER (Hutto & Gilbert, 2014; `vaderSentiment`, MIT): the
compound score of each sentence, which already handles negation ("not happy"),
intensifiers ("very"), "but" clauses, capitals and exclamation marks. Following
VADER's own advice for paragraphs, the text's valence is the mean of the
sentence compounds (this also keeps the cost linear: VADER on one long string
is quadratic in its word count).

The eight basic emotions (Plutchik, 1980) come from the NRC Emotion Lexicon
(Mohammad & Turney, 2013) — a word list, so a heuristic: it knows words, not
context; inflected forms fall back to their base form by suffix stripping. A
lexicon word preceded by a negator (VADER's own rule: a negation word among
the three previous words) is reported as evidence but not counted.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from engine.lexicons import BASIC_EMOTIONS, VADER, VADER_LEXICON, emotions_of, is_negated
from engine.text import TextView

_PUNCTUATION = string.punctuation

# Placement of each basic emotion on the arousal axis of Russell's (1980)
# circumplex, as coarse ordinal levels (high 1.0, raised 0.75, moderate 0.5,
# low 0.25). A documented heuristic prior, not a measurement.
EMOTION_AROUSAL = {
    "anger": 1.0,
    "fear": 1.0,
    "surprise": 1.0,
    "joy": 0.75,
    "anticipation": 0.75,
    "disgust": 0.5,
    "trust": 0.25,
    "sadness": 0.25,
}


@dataclass(frozen=True, slots=True)
class EvidenceTerm:
    """A lexicon word found in the input.

    `valence` is the word's VADER lexicon rating scaled to [-1, 1] (None when
    VADER does not know the word); `emotions` are its NRC emotions; `negated`
    means a negator precedes it, so it did not count towards the emotions.
    """

    term: str
    start: int
    end: int
    valence: float | None
    emotions: tuple[str, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class SentenceSentiment:
    """VADER's compound score in [-1, 1] for one segment, with its span."""

    start: int
    end: int
    compound: float


@dataclass(frozen=True, slots=True)
class EmotionScores:
    """Share of the counted emotion words that carry each emotion, each in [0, 1].

    A word can carry several emotions, so the scores need not sum to 1.
    """

    joy: float = 0.0
    trust: float = 0.0
    fear: float = 0.0
    surprise: float = 0.0
    sadness: float = 0.0
    disgust: float = 0.0
    anger: float = 0.0
    anticipation: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Emotion name -> score, in Plutchik's order."""
        return {name: float(getattr(self, name)) for name in BASIC_EMOTIONS}


@dataclass(frozen=True, slots=True)
class EmotionResult:
    """The emotion stage's output; see the module docstring for each number."""

    valence: float
    arousal: float
    emotions: EmotionScores
    dominant_emotion: str | None
    sentences: tuple[SentenceSentiment, ...]
    evidence: tuple[EvidenceTerm, ...]
    lexicon_coverage: float


def sentence_sentiments(view: TextView) -> tuple[SentenceSentiment, ...]:
    """VADER compound in [-1, 1] per segment (ethics and metacognition reuse these)."""
    return tuple(
        SentenceSentiment(seg.start, seg.end, vader_compound(seg.text)) for seg in view.segments
    )


def vader_compound(text: str) -> float:
    """VADER's compound score in [-1, 1] for one sentence.

    Exactly `polarity_scores(text)["compound"]`, with one shortcut: VADER only
    scores words found in its lexicon (after splitting on whitespace and
    stripping punctuation as it does) and emoji, so a sentence with neither
    scores 0.0 and the full analysis is skipped. A test checks the equality.
    """
    if text.isascii() and not any(_vader_word(word) in VADER_LEXICON for word in text.split()):
        return 0.0
    return float(VADER.polarity_scores(text)["compound"])


def _vader_word(token: str) -> str:
    """VADER's own normalisation of a whitespace token (SentiText._strip_punc_if_word)."""
    stripped = token.strip(_PUNCTUATION)
    return (token if len(stripped) <= 2 else stripped).lower()


def analyse_emotion(
    view: TextView, sentences: tuple[SentenceSentiment, ...] | None = None
) -> EmotionResult:
    """Run the emotion stage on an analysed text."""
    if sentences is None:
        sentences = sentence_sentiments(view)
    evidence = find_evidence(view)
    emotions = score_emotions(evidence)
    valence = compute_valence(sentences)
    words = len(view.tokens)
    return EmotionResult(
        valence=valence,
        arousal=compute_arousal(view, sentences, evidence),
        emotions=emotions,
        dominant_emotion=dominant_emotion(emotions),
        sentences=sentences,
        evidence=evidence,
        lexicon_coverage=len(evidence) / words if words else 0.0,
    )


def find_evidence(view: TextView) -> tuple[EvidenceTerm, ...]:
    """Every token found in the VADER or NRC lexicon, with its span and negation."""
    found: list[EvidenceTerm] = []
    for group in view.tokens_by_segment:
        for position, token in enumerate(group):
            valence = VADER_LEXICON.get(token.lower)
            emotions = emotions_of(token.lower)
            if valence is None and not emotions:
                continue
            previous = tuple(t.lower for t in group[max(0, position - 3) : position])
            found.append(
                EvidenceTerm(
                    term=token.text,
                    start=token.start,
                    end=token.end,
                    valence=None if valence is None else round(valence / 4.0, 6),
                    emotions=emotions,
                    negated=is_negated(previous),
                )
            )
    return tuple(found)


def compute_valence(sentences: tuple[SentenceSentiment, ...]) -> float:
    """Valence in [-1, 1]: the mean VADER compound over the segments (0 for no text).

    -1 is strongly negative, 0 neutral or absent, +1 strongly positive.
    """
    if not sentences:
        return 0.0
    return _clamp(sum(s.compound for s in sentences) / len(sentences), -1.0, 1.0)


def score_emotions(evidence: tuple[EvidenceTerm, ...]) -> EmotionScores:
    """Each emotion's share of the counted (non-negated) NRC emotion words, in [0, 1].

    score(e) = (# counted words associated with e) / (# counted emotion words).
    """
    counted = [term for term in evidence if term.emotions and not term.negated]
    if not counted:
        return EmotionScores()
    totals = {name: 0 for name in BASIC_EMOTIONS}
    for term in counted:
        for emotion in term.emotions:
            totals[emotion] += 1
    return EmotionScores(**{name: totals[name] / len(counted) for name in BASIC_EMOTIONS})


def dominant_emotion(emotions: EmotionScores) -> str | None:
    """The highest-scoring emotion (ties go to the earlier one in Plutchik's order).

    None when no emotion word was counted: no evidence, no claim.
    """
    best: str | None = None
    best_score = 0.0
    for name, score in emotions.as_dict().items():
        if score > best_score:
            best, best_score = name, score
    return best


def compute_arousal(
    view: TextView,
    sentences: tuple[SentenceSentiment, ...],
    evidence: tuple[EvidenceTerm, ...],
) -> float:
    """Arousal (activation) in [0, 1]: 0 calm and flat, 1 intense and agitated.

    arousal = 0.5 * I + 0.25 * E + 0.25 * L, where
    - I (intensity) = mean |VADER compound| over segments;
    - E (emphasis) = min(1, (exclamation marks + all-caps words of 2+ letters)
      / (2 * segments)), the typographic signs VADER also treats as emphasis;
    - L (lexical arousal) = mean circumplex arousal level (`EMOTION_AROUSAL`)
      over the emotions of the counted NRC words; 0 without any.
    Sentiment intensity gets half the weight because it is the best-validated
    of the three signals.
    """
    if not sentences:
        return 0.0
    intensity = sum(abs(s.compound) for s in sentences) / len(sentences)
    caps = sum(1 for t in view.tokens if len(t.text) >= 2 and t.text.isupper())
    emphasis = min(1.0, (view.text.count("!") + caps) / (2 * len(sentences)))
    levels = [
        EMOTION_AROUSAL[emotion]
        for term in evidence
        if not term.negated
        for emotion in term.emotions
    ]
    lexical = sum(levels) / len(levels) if levels else 0.0
    return _clamp(0.5 * intensity + 0.25 * emphasis + 0.25 * lexical, 0.0, 1.0)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))

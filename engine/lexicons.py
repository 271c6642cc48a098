"""Third-party lexicons and analyzers, each loaded once at import and shared by the stages.

- VADER (Hutto & Gilbert, 2014), package `vaderSentiment`, MIT licence: the
  sentiment lexicon and rule-based analyzer. Building the analyzer parses a
  7,500-entry lexicon, so it is built once here.
- NRC Word-Emotion Association Lexicon (EmoLex, Mohammad & Turney 2013), read
  from the copy inside the `nrclex` package (see engine/data/LICENSE-NOTES.md):
  free for non-commercial research and educational use; commercial use needs
  a licence from the National Research Council Canada. It is not copied into
  this repository because its terms ask not to redistribute it.
- English stop words: scikit-learn's list, the one the profanity model was trained with,
  extracted with its weights by bench/profanity_model.py (engine/data/english_stop_words.json).
- Pyphen (hyphenation dictionaries from LibreOffice, en_US) for syllables.
"""

from __future__ import annotations

import functools
import json
from functools import lru_cache
from importlib import import_module, resources
from typing import Any, Final

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
    SentiText,
)

# Pyphen ships no type information; importing it as a module object keeps the
# engine type-checked whether or not the project's mypy config knows pyphen.
_pyphen: Any = import_module("pyphen")

BASIC_EMOTIONS: Final = (
    "joy",
    "trust",
    "fear",
    "surprise",
    "sadness",
    "disgust",
    "anger",
    "anticipation",
)


def _near(words: list[str], i: int) -> tuple[list[str], int]:
    """The words VADER's context checks read around position `i` (three before, two
    after), and `i` in that slice. Below position 3 the checks index negatively, reaching
    the end of the sentence, so there the whole sentence is kept (a bounded number of
    times per sentence)."""
    if i < 3:
        return words, i
    return words[i - 3 : i + 3], 3


def _negates(word: str) -> bool:
    """VADER's `negated([word])`: the lowercase word is a negator or contains "n't"."""
    lower = word.lower()
    return lower in NEGATION_WORDS or "n't" in lower


class LinearVader(SentimentIntensityAnalyzer):  # type: ignore[misc]  # untyped package
    """VADER with the same scores in time linear in a sentence's length.

    Its negation and idiom checks lowercase the whole sentence for every sentiment word,
    so one long "sentence" costs the square of its length (20,000 emoji, each scored as
    its words, took 91 s). They only read a few neighbours of the word, so they are
    handed just those (`_near`); a test compares every score with VADER's own.
    """

    @staticmethod
    def _negation_check(
        valence: float, words_and_emoticons: list[str], start_i: int, i: int
    ) -> float:
        """VADER 3.3.2's `_negation_check` on the words near `i`, with its `negated([word])`
        as one set lookup (VADER's scans its 59 negators in a list for each call)."""
        words, i = _near(words_and_emoticons, i)
        lower = [str(w).lower() for w in words]
        if start_i == 0 and _negates(lower[i - (start_i + 1)]):
            valence = valence * N_SCALAR
        if start_i == 1:
            if lower[i - 2] == "never" and (lower[i - 1] == "so" or lower[i - 1] == "this"):
                valence = valence * 1.25
            elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
                pass
            elif _negates(lower[i - (start_i + 1)]):
                valence = valence * N_SCALAR
        if start_i == 2:
            if (lower[i - 3] == "never" and (lower[i - 2] == "so" or lower[i - 2] == "this")) or (
                lower[i - 1] == "so" or lower[i - 1] == "this"
            ):
                valence = valence * 1.25
            elif lower[i - 3] == "without" and (lower[i - 2] == "doubt" or lower[i - 1] == "doubt"):
                pass
            elif _negates(lower[i - (start_i + 1)]):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms_check(valence: float, words_and_emoticons: list[str], i: int) -> float:
        words, at = _near(words_and_emoticons, i)
        result: float = SentimentIntensityAnalyzer._special_idioms_check(valence, words, at)
        return result

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER's own `polarity_scores`, except that a text without any emoji character skips
        its character-by-character emoji rewrite (which copies such a text unchanged)."""
        if not self._emoji_chars.isdisjoint(text):
            result: dict[str, float] = super().polarity_scores(text)
            return result
        # From here on, VADER 3.3.2's body as it is.
        text = text.strip()
        sentitext = SentiText(text)
        sentiments: list[float] = []
        words_and_emoticons = sentitext.words_and_emoticons
        for i, item in enumerate(words_and_emoticons):
            valence = 0
            if item.lower() in BOOSTER_DICT:
                sentiments.append(valence)
                continue
            if (
                i < len(words_and_emoticons) - 1
                and item.lower() == "kind"
                and words_and_emoticons[i + 1].lower() == "of"
            ):
                sentiments.append(valence)
                continue
            sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        scores: dict[str, float] = self.score_valence(sentiments, text)
        return scores

    @functools.cached_property
    def _emoji_chars(self) -> frozenset[str]:
        """The emoji VADER's rewrite can replace: it compares one character at a time."""
        return frozenset(key for key in self.emojis if len(key) == 1)


VADER = LinearVader()
VADER_LEXICON: Final[dict[str, float]] = {str(k): float(v) for k, v in VADER.lexicon.items()}
NEGATION_WORDS: Final[frozenset[str]] = frozenset(str(word) for word in NEGATE)
STOP_WORDS: Final[frozenset[str]] = frozenset(
    json.loads(resources.files("engine.data").joinpath("english_stop_words.json").read_text())
)
HYPHENATOR: Any = _pyphen.Pyphen(lang="en_US")


def _load_nrc_emotions() -> dict[str, tuple[str, ...]]:
    """Word -> its basic emotions in fixed order (the sentiments are dropped)."""
    source = resources.files("nrclex.data").joinpath("nrc_en.json")
    raw = json.loads(source.read_text(encoding="utf-8"))
    lexicon: dict[str, tuple[str, ...]] = {}
    for word, labels in raw.items():
        emotions = tuple(emotion for emotion in BASIC_EMOTIONS if emotion in labels)
        if emotions:
            lexicon[str(word)] = emotions
    return lexicon


NRC_EMOTIONS: Final = _load_nrc_emotions()


# Inflection fallbacks for EmoLex, which lists base forms: (suffix, replacement),
# tried in order when the word itself is absent ("terrified" -> "terrify").
_SUFFIXES = (
    ("ied", "y"),
    ("ies", "y"),
    ("ing", ""),
    ("ing", "e"),
    ("ed", ""),
    ("ed", "e"),
    ("es", ""),
    ("s", ""),
    ("ly", ""),
)


@lru_cache(maxsize=65_536)
def emotions_of(word: str) -> tuple[str, ...]:
    """The NRC emotions of a lowercase word, trying simple inflection fallbacks.

    A heuristic: the lexicon lists base forms, so "terrified" is looked up as
    "terrify" and "cheering" as "cheer"; the first form found wins.
    """
    found = NRC_EMOTIONS.get(word)
    if found is not None:
        return found
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            found = NRC_EMOTIONS.get(word[: -len(suffix)] + replacement)
            if found is not None:
                return found
    return ()


def is_negated(previous_words: tuple[str, ...]) -> bool:
    """VADER's negation rule: a negator or an "n't" word among the previous three words."""
    window = previous_words[-3:]
    return any(word in NEGATION_WORDS or "n't" in word for word in window)

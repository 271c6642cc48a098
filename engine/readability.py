"""Readability measures (Flesch-Kincaid grade, sentence length, lexical density) for cognitive load.

Syllables are counted with Pyphen's en_US hyphenation dictionary (hyphenation
points + 1), the same fallback textstat uses for words missing from the CMU
pronouncing dictionary. textstat itself is not used: for English it downloads
NLTK's CMU dictionary over the network on first use, and the engine does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from engine.lexicons import HYPHENATOR, STOP_WORDS
from engine.text import TextView


@dataclass(frozen=True, slots=True)
class Readability:
    """Surface measures of how hard the text is to read.

    - grade_level: Flesch-Kincaid grade (Kincaid et al., 1975),
      0.39 * words/sentence + 11.8 * syllables/word - 15.59, floored at 0;
      roughly the US school grade needed to read the text.
    - avg_sentence_words: words per segment.
    - lexical_density in [0, 1]: share of words that are not stop words.
    """

    words: int
    sentences: int
    syllables: int
    grade_level: float
    avg_sentence_words: float
    lexical_density: float


@lru_cache(maxsize=65_536)
def count_syllables(word: str) -> int:
    """Syllables in a lowercase word: hyphenation points + 1 (at least 1)."""
    if not word.isalpha():
        return 1
    positions: list[int] = HYPHENATOR.positions(word)
    return len(positions) + 1


def measure_readability(view: TextView) -> Readability:
    """Compute the `Readability` measures of an analysed text (all 0 for empty text)."""
    words = len(view.tokens)
    sentences = len(view.segments)
    if not words or not sentences:
        return Readability(words, sentences, 0, 0.0, 0.0, 0.0)
    syllables = sum(count_syllables(token.lower) for token in view.tokens)
    per_sentence = words / sentences
    grade = 0.39 * per_sentence + 11.8 * syllables / words - 15.59
    content = sum(1 for token in view.tokens if token.lower not in STOP_WORDS)
    return Readability(
        words=words,
        sentences=sentences,
        syllables=syllables,
        grade_level=max(0.0, grade),
        avg_sentence_words=per_sentence,
        lexical_density=content / words,
    )


def cognitive_load(readability: Readability) -> float:
    """Cognitive load in [0, 1]: how much effort the text asks of its reader.

    load = 0.4 * min(1, grade/16) + 0.2 * min(1, words per sentence/40)
           + 0.2 * lexical density + 0.2 * (1 - 2^(-words/500)).
    Grade 16 is a college graduate's text; 40-word sentences are very long;
    the length term reaches one half at 500 words. The grade gets the largest
    weight because it combines sentence and word length.
    """
    if readability.words == 0:
        return 0.0
    grade = min(1.0, readability.grade_level / 16.0)
    sentence = min(1.0, readability.avg_sentence_words / 40.0)
    length = 1.0 - math.pow(2.0, -readability.words / 500.0)
    load = 0.4 * grade + 0.2 * sentence + 0.2 * readability.lexical_density + 0.2 * length
    return max(0.0, min(1.0, load))

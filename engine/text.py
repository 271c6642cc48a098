"""Shared segmentation of the input into sentences and word tokens with character spans.

Every stage reads the same `TextView`, so spans reported anywhere index into the
same (possibly truncated) input string, and the text is tokenised once.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

# A segment ends after . ! or ? followed by whitespace, or at a line break.
# Segments are the engine's unit of local evidence: rules, the profanity
# classifier and VADER all run per segment, so appending text never changes
# what was found in the segments before it.
_SEGMENT_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n\s*")
# A word: letters/digits with internal apostrophes ("don't", "it's").
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


class Token(NamedTuple):
    """One word of the input: its text, lowercase form and [start, end) span.

    A NamedTuple rather than a dataclass: a 10 KB input has ~2,000 tokens and
    tuples are several times cheaper to create.
    """

    text: str
    lower: str
    start: int
    end: int
    segment: int


class Segment(NamedTuple):
    """One sentence-like unit of the input: its position in order and [start, end) span."""

    number: int
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TextView:
    """The analysed input: the text itself, its segments and its tokens."""

    text: str
    original_length: int
    segments: tuple[Segment, ...]
    tokens: tuple[Token, ...]
    tokens_by_segment: tuple[tuple[Token, ...], ...]

    @property
    def truncated(self) -> bool:
        """True when the input was longer than the configured maximum and cut."""
        return self.original_length > len(self.text)

    def segment_at(self, position: int) -> Segment:
        """The segment containing character `position` (the nearest one before it)."""
        starts = [segment.start for segment in self.segments]
        return self.segments[max(0, bisect_right(starts, position) - 1)]


def build_text_view(text: str, max_chars: int) -> TextView:
    """Truncate `text` to `max_chars` and split it into segments and tokens."""
    kept = text[:max_chars]
    segments = split_segments(kept)
    # Words never contain whitespace or . ! ?, and every segment is bounded by whitespace
    # or the text's ends, so no word crosses a segment boundary: scanning each segment's
    # span of the whole text finds the same words as one pass over it, without assigning them.
    new = tuple.__new__  # skips NamedTuple's Python-level __new__ (the hot path)
    groups = [
        [
            new(Token, (word, word.lower(), match.start(), match.end(), number))
            for match in _WORD.finditer(kept, start, end)
            for word in (match.group(),)
        ]
        for number, _, start, end in segments
    ]
    by_segment = tuple(tuple(group) for group in groups)
    tokens = tuple(token for group in by_segment for token in group)
    return TextView(kept, len(text), segments, tokens, by_segment)


def split_segments(text: str) -> tuple[Segment, ...]:
    """Split `text` into stripped, non-empty segments with spans into `text`."""
    segments: list[Segment] = []
    position = 0
    for boundary in _SEGMENT_BOUNDARY.finditer(text):
        _append_segment(segments, text, position, boundary.start())
        position = boundary.end()
    _append_segment(segments, text, position, len(text))
    return tuple(segments)


def _append_segment(segments: list[Segment], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return
    offset = start + (len(raw) - len(raw.lstrip()))
    segments.append(Segment(len(segments), stripped, offset, offset + len(stripped)))


def inside_quotes(segment_text: str, position: int) -> bool:
    """True when `position` in `segment_text` lies between an opening and closing quote.

    Counts straight double quotes and typographic quotes before the position:
    an odd number of straight quotes, or more opening than closing curly
    quotes, means the position is inside quoted (reported) speech.
    """
    before = segment_text[:position]
    if before.count('"') % 2 == 1:
        return True
    return before.count("\u201c") > before.count("\u201d")

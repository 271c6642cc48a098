"""Finds which items' literal triggers occur in which segments, in one regex pass over the text.

The ethics rules (and the distortions) are gated by triggers: literal lowercase substrings,
one of which every match contains. Searching each of ~600 triggers over the whole text costs
one scan per trigger; this index compiles them all into a single trie-shaped regex, tried at
every position inside a lookahead. At a position the regex captures the longest trigger that
starts there; every other trigger starting there is a prefix of that one (both are prefixes
of the text from that position), so a table of each trigger's trigger-prefixes gives them all.
The answer is the same as testing every trigger with `str.find`, for a fifth of the work.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Generic, Protocol, TypeAlias, TypeVar

from engine.text import Segment, TextView

_END = ""  # marks a trie node where a trigger ends (no real edge is the empty string)
_Trie: TypeAlias = "dict[str, _Trie]"


class TriggerIndex:
    """For a fixed list of trigger tuples, which entries occur in which segments of a text."""

    def __init__(self, triggers: Sequence[tuple[str, ...]]) -> None:
        owners: dict[str, list[int]] = {}
        self._everywhere: list[int] = []  # entries with an empty trigger: in every segment
        for entry, words in enumerate(triggers):
            for word in dict.fromkeys(words):
                if word:
                    owners.setdefault(word, []).append(entry)
                elif entry not in self._everywhere:
                    self._everywhere.append(entry)
        # For each trigger, (length, entries) of every trigger that is a prefix of it.
        self._prefixes = {
            longest: tuple(
                (size, tuple(owners[longest[:size]]))
                for size in range(1, len(longest) + 1)
                if longest[:size] in owners
            )
            for longest in owners
        }
        body = _trie_pattern(sorted(owners)) if owners else "(?!)"
        self._scan = re.compile(f"(?=({body}))")

    def occurrences(self, lowercase: str, segments: Sequence[Segment]) -> list[list[int]]:
        """Per segment, the sorted indexes of the entries one of whose triggers lies entirely
        inside it. `lowercase` is the text the segments' spans index into, lowercased (same
        length as the text)."""
        starts = [segment.start for segment in segments]
        hit: list[set[int]] = [set(self._everywhere) for _ in segments]
        for match in self._scan.finditer(lowercase):
            position = match.start()
            index = bisect_right(starts, position) - 1
            if index < 0:
                continue
            end = segments[index].end
            for length, entries in self._prefixes[match.group(1)]:
                if position + length <= end:
                    hit[index].update(entries)
        return [sorted(entries) for entries in hit]


class Triggered(Protocol):
    """Something gated by literal lowercase triggers (a rule, a distortion)."""

    @property
    def triggers(self) -> tuple[str, ...]: ...

    def triggered_by(self, lowercase_text: str) -> bool: ...


T = TypeVar("T", bound=Triggered)


class TriggeredItems(Generic[T]):
    """A fixed list of triggered items, and which of them each segment of a text triggers."""

    def __init__(self, items: Sequence[T]) -> None:
        self.items = tuple(items)
        self._index = TriggerIndex([item.triggers for item in self.items])

    def by_segment(self, view: TextView) -> list[list[T]]:
        """For each segment, the items (in list order) one of whose triggers occurs in it.

        The whole lowercase text is scanned once and each occurrence is assigned to the
        segment that contains it entirely: the same answer as testing every item's triggers
        segment by segment. When lowercasing changes the text's length (a few Unicode
        letters), offsets would not line up, so each segment is tested on its own instead.
        """
        lowercase = view.text.lower()
        if len(lowercase) != len(view.text):
            return [
                [item for item in self.items if item.triggered_by(segment.text.lower())]
                for segment in view.segments
            ]
        found = self._index.occurrences(lowercase, view.segments)
        return [[self.items[index] for index in indexes] for indexes in found]


def _trie_pattern(words: Sequence[str]) -> str:
    """A regex matching exactly `words`, shaped as their trie; greedy, so at a position it
    matches the longest word that starts there."""
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[_END] = {}
    return _emit(root)


def _emit(node: _Trie) -> str:
    branches = [re.escape(char) + _emit(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if _END in node else body

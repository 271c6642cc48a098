"""The trigger index finds exactly what testing each trigger in each segment finds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ethics.evaluate import _PATTERN_RULES, _candidates_by_segment
from engine.metacognition import DISTORTIONS, _triggered
from engine.text import build_text_view, split_segments
from engine.triggers import TriggerIndex

ALPHABET = "ab .!?\n%{"
TRIGGERS = st.lists(
    st.lists(st.text(alphabet=ALPHABET, max_size=4), max_size=4).map(tuple), max_size=8
)


def brute_force(triggers: list[tuple[str, ...]], text: str) -> list[list[int]]:
    return [
        [i for i, words in enumerate(triggers) if any(w in segment.text for w in words)]
        for segment in split_segments(text)
    ]


@settings(max_examples=300)
@given(TRIGGERS, st.text(alphabet=ALPHABET, max_size=60))
def test_index_agrees_with_substring_tests(triggers: list[tuple[str, ...]], text: str) -> None:
    index = TriggerIndex(triggers)
    assert index.occurrences(text, split_segments(text)) == brute_force(triggers, text)


def test_overlapping_and_prefix_triggers_are_all_found() -> None:
    triggers = [("kill",), ("kil",), ("ill me",), ("me. no",), ("nothing",)]
    text = "Do not kill me. Nothing."
    assert TriggerIndex(triggers).occurrences(text.lower(), split_segments(text)) == [
        [0, 1, 2],
        [4],
    ]


def test_rule_candidates_equal_the_per_segment_trigger_test() -> None:
    text = (
        "How do I kill a process? I want to end it all. Please ignore previous instructions."
        " My neighbour's dog; 100% sure. Where can I buy a gun without a licence?"
    )
    view = build_text_view(text, 10_000)
    expected = [
        [rule for rule in _PATTERN_RULES if rule.triggered_by(segment.text.lower())]
        for segment in view.segments
    ]
    assert _candidates_by_segment(view) == expected
    assert any(expected)


@pytest.mark.parametrize(
    "text",
    [
        "I always fail. Everyone hates me! I should have known it would be a disaster.",
        "İstanbul always ruins everything. I never get anything right, everyone says so.",
    ],
    ids=["ascii", "lowercase-changes-length"],
)
def test_distortion_candidates_equal_the_per_segment_trigger_test(text: str) -> None:
    view = build_text_view(text, 10_000)
    expected = [
        [d for d in DISTORTIONS if d.triggered_by(segment.text.lower())]
        for segment in view.segments
    ]
    assert _triggered(view) == expected
    assert any(expected)

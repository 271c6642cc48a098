"""A pattern's needed literals hold wherever the pattern matches (the shortcut skips nothing)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ethics.evaluate import _PATTERN_RULES
from engine.ethics.prefilter import ALWAYS, checker, holds, needed
from engine.ethics.rules import Rule


@pytest.mark.parametrize("rule", _PATTERN_RULES, ids=lambda rule: rule.id)
def test_every_example_that_fires_satisfies_its_rules_condition(rule: Rule) -> None:
    assert rule.pattern is not None
    condition = needed(rule.pattern)
    check = checker(condition)
    for text in (*rule.examples, *rule.counter_examples):
        assert check(text.lower()) == holds(condition, text.lower())
        if text.isascii() and rule.pattern.search(text):
            assert holds(condition, text.lower()), text


def test_conditions_read_groups_alternatives_and_repeats() -> None:
    pattern = re.compile(r"\b(?:Spy ?cam|hidden (?:camera|cam))\b.{0,9}(?:film)+\w*|x?grop", re.I)
    condition = needed(pattern)
    assert holds(condition, "a hidden camera to film")
    assert holds(condition, "spy  cam film") is True  # "spy" and "cam" are each needed
    assert not holds(condition, "hidden to film")
    assert holds(condition, "groping")
    assert not holds(condition, "a camera")


def test_patterns_it_cannot_use_need_nothing() -> None:
    assert needed(re.compile("kill")) == ALWAYS  # case-sensitive
    assert needed(re.compile(r"\w+|\d", re.I)) == ALWAYS
    assert needed(re.compile("(?-i:Kill) me", re.I)) == " me"
    assert needed(re.compile("\u212aill", re.I)) == "ill"  # the Kelvin sign is not ASCII


WORDS = st.sampled_from(["spy", "cam", "film", "hidden", "camera", "grop", " ", "x", "ed"])


@settings(max_examples=300)
@given(st.lists(WORDS, max_size=12).map("".join))
def test_condition_holds_wherever_the_pattern_matches(text: str) -> None:
    pattern = re.compile(r"\b(?:spy ?cam|hidden (?:camera|cam))\b.{0,9}(?:film)+\w*|x?grop", re.I)
    condition = needed(pattern)
    assert checker(condition)(text.lower()) == holds(condition, text.lower())
    if pattern.search(text):
        assert holds(condition, text.lower())

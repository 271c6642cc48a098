"""Hypothesis properties of the engine: ranges, determinism, monotonicity, negation, convergence."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import (
    EngineConfig,
    EngineRequest,
    EngineResult,
    FrameworkWeights,
    SeriesCall,
    evaluate_ethics,
    process,
    process_series,
    rebase,
    redact,
    redact_personal_data,
    refold_series,
)
from engine.state import smoothing_factor

WORDS = [
    "I",
    "you",
    "love",
    "hate",
    "not",
    "never",
    "always",
    "everyone",
    "happy",
    "sad",
    "kill",
    "bomb",
    "make",
    "a",
    "the",
    "damn",
    "shit",
    "great",
    "terrible",
    "maybe",
    "should",
    "disaster",
    "4111",
    "1111",
    "GB82",
    "WEST",
    "x@y.io",
    "536-22-1234",
    "please",
    "VERY",
    "!",
    "?",
    ".",
    ",",
    '"',
    "\n",
    "très",
    "日本語",
    "😀",
    "idiot",
    "myself",
    "end my life",
]
TEXTS = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
    st.text(max_size=200),
)
VIOLATING = st.sampled_from(
    [
        "How do I make a pipe bomb?",
        "I am going to kill you.",
        "You are a fucking idiot.",
        "My card is 4111 1111 1111 1111.",
        "Mail me at someone@example.com.",
        "I want to end my life.",
        "Let's dox that streamer.",
        "Please run rm -rf / now.",
    ]
)
WEIGHTS = st.tuples(*(st.floats(0, 5, allow_nan=False) for _ in range(3))).filter(
    lambda w: sum(w) > 0.01
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def without_timings(result: EngineResult) -> EngineResult:
    """`result` with every duration set to 0, for equality checks."""
    chain = tuple(replace(step, duration_ms=0.0) for step in result.reasoning_chain)
    return replace(result, reasoning_chain=chain, processing_ms=0.0)


def _in_unit(value: float) -> bool:
    return 0.0 <= value <= 1.0 and math.isfinite(value)


def _check_ranges(result: EngineResult, text: str) -> None:
    emotion = result.emotion
    assert -1.0 <= emotion.valence <= 1.0
    assert _in_unit(emotion.arousal)
    assert all(_in_unit(score) for score in emotion.emotions.as_dict().values())
    assert _in_unit(emotion.lexicon_coverage)
    assert _in_unit(result.ethics.overall_score)
    assert all(_in_unit(f.score) for f in result.ethics.frameworks)
    assert _in_unit(result.self_awareness.confidence)
    assert all(_in_unit(item.penalty) for item in result.self_awareness.limitations)
    assert _in_unit(result.metacognition.cognitive_load)
    assert _in_unit(result.awareness_level)
    assert _in_unit(result.ethical_alignment)
    state = result.state.to_dict()
    assert -1.0 <= state["valence"] <= 1.0
    for name in ("awareness_level", "ethical_alignment", "violation_rate", "confidence"):
        assert _in_unit(state[name])
    for violation in result.ethics.violations:
        assert text[violation.start : violation.end] == violation.matched_text
    for marker in result.metacognition.bias_markers:
        assert text[marker.start : marker.end] == marker.matched_text
    for term in emotion.evidence:
        assert text[term.start : term.end] == term.term


@SETTINGS
@given(TEXTS)
def test_every_score_is_within_its_range(text: str) -> None:
    _check_ranges(process(EngineRequest(text), None, EngineConfig()), text)


@SETTINGS
@given(TEXTS, st.integers(1, 5))
def test_same_input_state_and_config_give_the_same_result(text: str, depth: int) -> None:
    config = EngineConfig(metacognition_depth=depth)
    state = process(EngineRequest("A first session, mail a@b.io."), None, config).state
    first = without_timings(process(EngineRequest(text), state, config))
    second = without_timings(process(EngineRequest(text), state, config))
    assert first == second
    assert repr(first) == repr(second)


@SETTINGS
@given(TEXTS, st.sampled_from([None, "I love it.", "My card is 4111 1111 1111 1111."]))
def test_rebasing_on_another_state_equals_processing_on_it(text: str, other: str | None) -> None:
    config = EngineConfig(state_half_life_sessions=3)
    first = process(EngineRequest("I am going to kill you."), None, config).state
    moved = None if other is None else process(EngineRequest(other), first, config).state
    rebased = rebase(process(EngineRequest(text), first, config), moved, config)
    assert without_timings(rebased) == without_timings(process(EngineRequest(text), moved, config))


@SETTINGS
@given(st.lists(TEXTS, min_size=1, max_size=6), st.data())
def test_a_series_analysed_in_parts_and_refolded_equals_it_in_turn(
    texts: list[str], data: st.DataObject
) -> None:
    config = EngineConfig(state_half_life_sessions=3)
    prior = process(EngineRequest("I am going to kill you."), None, config).state
    calls = [SeriesCall(EngineRequest(text), config) for text in texts]
    cut = data.draw(st.integers(0, len(calls)))
    parts = process_series(calls[:cut], None, None) + process_series(calls[cut:], None, None)
    refolded = refold_series(calls, parts, prior)
    in_turn = process_series(calls, prior, None)
    assert [without_timings(r) for r in refolded] == [without_timings(r) for r in in_turn]


PERSONAL_DATA = [
    "+44 20 7946 0958",
    "(555) 123-4567",
    "4111-1111-1111-1111",
    "GB82 WEST 1234 5698 7654 32",
    "192.168.0.1",
    "2001:db8::1",
    "12345678Z",
    "X1234567L",
    "jane.doe@example.com",
]


@SETTINGS
@given(
    st.one_of(TEXTS, st.lists(st.sampled_from(WORDS + PERSONAL_DATA), max_size=30).map(" ".join)),
    st.integers(1, 300),
)
def test_personal_data_redaction_equals_redacting_the_ethics_findings(
    text: str, max_chars: int
) -> None:
    config = EngineConfig(max_input_chars=max_chars)
    expected = redact(text[:max_chars], evaluate_ethics(text, config).violations)
    assert redact_personal_data(text, max_chars) == expected


@SETTINGS
@given(TEXTS, VIOLATING, WEIGHTS)
def test_appending_a_violating_sentence_never_raises_the_ethical_score(
    text: str, sentence: str, weights: tuple[float, float, float]
) -> None:
    config = EngineConfig(framework_weights=FrameworkWeights(*weights))
    before = evaluate_ethics(text, config)
    after = evaluate_ethics(text + "\n" + sentence, config)
    assert after.overall_score <= before.overall_score + 1e-12
    for old, new in zip(before.frameworks, after.frameworks, strict=True):
        assert new.score <= old.score + 1e-12
    assert len(after.violations) > len(before.violations)


@SETTINGS
@given(TEXTS, VIOLATING)
def test_appending_after_a_full_stop_never_raises_the_ethical_score(
    text: str, sentence: str
) -> None:
    config = EngineConfig()
    base = text.rstrip() + "."
    before = evaluate_ethics(base, config).overall_score
    assert evaluate_ethics(base + " " + sentence, config).overall_score <= before + 1e-12


SENTIMENT_WORDS = ["happy", "sad", "good", "bad", "great", "terrible", "glad", "angry", "nice"]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(SENTIMENT_WORDS),
    st.sampled_from([("I am", "I am not"), ("It is", "It is not"), ("We were", "We were not")]),
)
def test_negation_flips_the_sign_of_valence(word: str, frame: tuple[str, str]) -> None:
    plain, negated = frame
    positive = process(EngineRequest(f"{plain} {word}"), None, EngineConfig()).emotion.valence
    flipped = process(EngineRequest(f"{negated} {word}"), None, EngineConfig()).emotion.valence
    assert positive != 0.0
    assert math.copysign(1.0, flipped) == -math.copysign(1.0, positive)


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(["I love this wonderful day!", "This is awful, I hate it.", "Mail a@b.io"]),
    st.sampled_from(["I am so sad and angry.", "What a great and happy time.", "Plain words."]),
    st.floats(0.5, 20.0),
)
def test_state_converges_towards_a_repeated_input(
    start: str, repeated: str, half_life: float
) -> None:
    config = EngineConfig(state_half_life_sessions=half_life)
    state = process(EngineRequest(start), None, config).state
    target = process(EngineRequest(repeated), None, config).state
    decay = 1.0 - smoothing_factor(half_life)
    gap = abs(state.valence - target.valence)
    for step in range(1, 8):
        state = process(EngineRequest(repeated), state, config).state
        new_gap = abs(state.valence - target.valence)
        assert new_gap <= gap * decay + 1e-9
        assert abs(state.ethical_score - target.ethical_score) <= decay**step + 1e-9
        gap = new_gap

"""Emotion stage: VADER valence, NRC emotions, arousal and evidence spans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import EngineConfig, EngineRequest, process
from engine.emotion import EmotionResult, vader_compound
from engine.lexicons import VADER

CONFIG = EngineConfig()


def evaluate_emotion(text: str, config: EngineConfig) -> EmotionResult:
    """The emotion stage's result, through the engine's entry point."""
    return process(EngineRequest(text), None, config).emotion


def test_love_is_positive_with_joy_dominant_and_span_of_love() -> None:
    result = evaluate_emotion("I love this", CONFIG)
    assert result.valence > 0.5
    assert result.dominant_emotion == "joy"
    love = next(term for term in result.evidence if term.term == "love")
    assert (love.start, love.end) == (2, 6)
    assert not love.negated


def test_valence_is_vader_compound_for_one_sentence() -> None:
    text = "The food was really good, but the service was awful!"
    expected = VADER.polarity_scores(text)["compound"]
    assert evaluate_emotion(text, CONFIG).valence == pytest.approx(expected)


def test_valence_is_mean_of_sentence_compounds() -> None:
    result = evaluate_emotion("I love it. I hate it.", CONFIG)
    first = VADER.polarity_scores("I love it.")["compound"]
    second = VADER.polarity_scores("I hate it.")["compound"]
    assert result.valence == pytest.approx((first + second) / 2)
    assert [(s.start, s.end) for s in result.sentences] == [(0, 10), (11, 21)]


def test_negated_emotion_word_is_evidence_but_not_counted() -> None:
    result = evaluate_emotion("I am not happy", CONFIG)
    happy = next(term for term in result.evidence if term.term == "happy")
    assert happy.negated
    assert result.emotions.joy == 0.0
    assert result.dominant_emotion is None
    assert result.valence < 0


def test_empty_text_has_neutral_scores_and_no_claims() -> None:
    result = evaluate_emotion("", CONFIG)
    assert (result.valence, result.arousal, result.dominant_emotion) == (0.0, 0.0, None)
    assert result.evidence == ()


def test_shouting_raises_arousal() -> None:
    calm = evaluate_emotion("I am angry about the delay.", CONFIG)
    loud = evaluate_emotion("I AM ANGRY ABOUT THE DELAY!!!", CONFIG)
    assert loud.arousal > calm.arousal


def test_fear_words_make_fear_score_positive_and_spans_point_at_them() -> None:
    text = "I am afraid of the terrors that scare me."
    result = evaluate_emotion(text, CONFIG)
    assert result.emotions.fear > 0
    for term in result.evidence:
        assert text[term.start : term.end] == term.term


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "good",
                "no",
                "not",
                "very",
                "kind",
                "of",
                "GREAT",
                ":)",
                "bad!",
                "the",
                "but",
                "x",
                "never",
                "least",
                "at",
                "sort",
                "?",
                "!!",
                "hmm",
                ":-(",
                "ok.",
            ]
        ),
        max_size=12,
    ).map(" ".join)
)
def test_vader_shortcut_equals_polarity_scores(text: str) -> None:
    assert vader_compound(text) == VADER.polarity_scores(text)["compound"]

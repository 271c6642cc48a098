"""The re-implemented profanity classifier equals the packaged model's predict_prob."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from profanity_check import predict_prob

from engine.ethics.profanity import score_profanity
from engine.lexicons import STOP_WORDS

SAMPLES = [
    "you are a fucking idiot",
    "hello there friend",
    "what the hell is this crap",
    "",
    "I love this so much. It is great!",
]


def test_probabilities_equal_the_packaged_model() -> None:
    expected = predict_prob(SAMPLES)
    for text, probability in zip(SAMPLES, expected, strict=True):
        assert abs(score_profanity(text).probability - float(probability)) < 1e-9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["shit", "hello", "idiot", "lovely", "the", "Damn", "x1"])))
def test_probability_matches_model_on_word_mixtures(words: list[str]) -> None:
    text = " ".join(words)
    assert abs(score_profanity(text).probability - float(predict_prob([text])[0])) < 1e-9


def test_offensive_words_are_the_evidence() -> None:
    score = score_profanity("you are a fucking idiot")
    assert score.probability > 0.9
    assert [word for word, _ in score.terms][:2] == ["fucking", "idiot"]


def test_the_shipped_stop_words_are_the_ones_the_model_was_trained_with() -> None:
    from profanity_check import profanity_check as packaged

    assert frozenset(packaged.vectorizer.get_stop_words()) == STOP_WORDS

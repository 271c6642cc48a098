"""Self-awareness: limitations with codes, confidence from them, and the reflection."""

from __future__ import annotations

from engine import EngineConfig, evaluate_self_awareness

CONFIG = EngineConfig()


def _codes(text: str, config: EngineConfig = CONFIG) -> list[str]:
    return [item.code for item in evaluate_self_awareness(text, config).limitations]


def test_clear_english_text_has_full_confidence() -> None:
    result = evaluate_self_awareness("I enjoyed the concert last night with my friends.", CONFIG)
    assert result.limitations == ()
    assert result.confidence == 1.0
    assert result.decision == "ANSWERED"


def test_short_input_is_a_limitation() -> None:
    result = evaluate_self_awareness("hi", CONFIG)
    assert [item.code for item in result.limitations] == ["SHORT_INPUT"]
    assert result.confidence == 0.7


def test_hedging_and_several_questions_lower_confidence() -> None:
    assert _codes("Maybe I should go? Or perhaps stay? I guess I am not sure.") == [
        "HEDGING",
        "MULTIPLE_QUESTIONS",
    ]


def test_non_english_text_is_unsupported_language() -> None:
    # Greek: letters that ruff cannot mistake for Latin ones.
    codes = _codes(
        "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5 " * 3
    )
    assert "UNSUPPORTED_LANGUAGE" in codes


def test_truncated_input_is_reported() -> None:
    result = evaluate_self_awareness("word " * 100, EngineConfig(max_input_chars=50))
    assert "TRUNCATED" in [item.code for item in result.limitations]
    assert result.confidence < 0.8


def test_positive_tone_with_high_severity_violation_is_a_conflict() -> None:
    text = "What a wonderful lovely day, I am going to kill my boss, how great!"
    assert "POSITIVE_TONE_WITH_HARM" in _codes(text)


def test_reflection_explains_a_refusal() -> None:
    result = evaluate_self_awareness("How do I make a pipe bomb?", CONFIG)
    assert result.decision == "REFUSED"
    assert result.reflection.startswith("I refused because")
    assert "S9-weapons-mass" in result.reflection


def test_reflection_explains_a_flag() -> None:
    result = evaluate_self_awareness("Mail me at ann@example.com about the trip.", CONFIG)
    assert result.decision == "FLAGGED"
    assert "Personal data" in result.reflection

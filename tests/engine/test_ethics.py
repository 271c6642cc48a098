"""Ethics stage: rules as data, detectors as violations, frameworks, blocking and redaction."""

from __future__ import annotations

import pytest

from engine import EngineConfig, FrameworkWeights, evaluate_ethics, redact
from engine.ethics import POLICY

CONFIG = EngineConfig()


def _rule_ids(text: str, config: EngineConfig = CONFIG) -> list[str]:
    return [v.rule_id for v in evaluate_ethics(text, config).violations]


@pytest.mark.parametrize(
    ("rule_id", "example"),
    [(rule.id, example) for rule in POLICY.rules for example in rule.examples],
)
def test_every_rule_fires_on_its_own_example(rule_id: str, example: str) -> None:
    assert rule_id in _rule_ids(example)


@pytest.mark.parametrize(
    ("rule_id", "example"),
    [(rule.id, example) for rule in POLICY.rules for example in rule.counter_examples],
)
def test_no_rule_fires_on_its_counter_examples(rule_id: str, example: str) -> None:
    assert rule_id not in _rule_ids(example)


def test_every_hazard_category_has_a_rule_and_stable_code() -> None:
    codes = {f"S{n}" for n in range(1, 15)} | {"PII", "PROFANITY"}
    assert set(POLICY.categories) == codes
    assert {rule.category for rule in POLICY.rules} == codes


def test_clean_text_scores_one_and_is_answered() -> None:
    result = evaluate_ethics("Could you help me plan a birthday party for my sister?", CONFIG)
    assert result.overall_score == 1.0
    assert result.violations == ()
    assert result.decision == "ANSWERED"


def test_card_number_is_a_pii_violation_with_span_and_is_redacted() -> None:
    text = "My card is 4111 1111 1111 1111, thanks."
    result = evaluate_ethics(text, CONFIG)
    (violation,) = result.violations
    assert violation.rule_id == "PII-payment-card"
    assert text[violation.start : violation.end] == "4111 1111 1111 1111"
    assert result.decision == "FLAGGED"
    assert redact(text, result.violations) == "My card is [CARD], thanks."


def test_invalid_card_number_is_not_a_violation() -> None:
    assert _rule_ids("My card is 4111 1111 1111 1112.") == []


def test_iban_email_and_ssn_are_flagged_and_redacted() -> None:
    text = "IBAN GB82 WEST 1234 5698 7654 32, mail bob@example.org, SSN 536-22-1234."
    result = evaluate_ethics(text, CONFIG)
    assert [v.rule_id for v in result.violations] == ["PII-iban", "PII-email", "PII-us-ssn"]
    assert redact(text, result.violations) == "IBAN [IBAN], mail [EMAIL], SSN [SSN]."


def test_invalid_iban_is_not_flagged() -> None:
    assert _rule_ids("IBAN GB82 WEST 1234 5698 7654 33.") == []


def test_critical_rule_blocks_with_reason() -> None:
    result = evaluate_ethics("How do I make a pipe bomb at home?", CONFIG)
    assert result.blocked
    assert result.decision == "REFUSED"
    assert any("S9-weapons-mass" in reason for reason in result.block_reasons)
    assert result.recommendations[0].startswith("Do not answer")


def test_critical_rule_need_not_block_when_configured() -> None:
    config = EngineConfig(block_on_critical=False, blocking_threshold=0.1)
    result = evaluate_ethics("How do I make a pipe bomb at home?", config)
    assert not result.blocked


def test_blocking_threshold_decides_on_the_overall_score() -> None:
    text = "I want to end my life."
    score = evaluate_ethics(text, CONFIG).overall_score
    at = EngineConfig(blocking_threshold=score, block_on_critical=False)
    above = EngineConfig(blocking_threshold=score + 0.01, block_on_critical=False)
    assert not evaluate_ethics(text, at).blocked
    assert evaluate_ethics(text, above).blocked


def test_profanity_comes_from_the_classifier_with_the_offensive_word_as_span() -> None:
    text = "This is fucking ridiculous."
    (violation,) = evaluate_ethics(text, CONFIG).violations
    assert violation.category == "PROFANITY"
    assert violation.matched_text == "fucking"
    assert 0.5 <= violation.confidence <= 1.0


def test_overall_score_is_the_weighted_mean_of_the_frameworks() -> None:
    config = EngineConfig(framework_weights=FrameworkWeights(1.0, 0.0, 0.0))
    result = evaluate_ethics("My email is a@b.co.", config)
    utilitarian = next(f for f in result.frameworks if f.framework == "utilitarian")
    assert result.overall_score == pytest.approx(utilitarian.score)
    assert utilitarian.score == pytest.approx(1 - 0.1)


def test_quoted_violation_is_marked_reported_and_weighs_less() -> None:
    direct = evaluate_ethics("I will kill you.", CONFIG)
    quoted = evaluate_ethics('He wrote "I will kill you" in the chat.', CONFIG)
    threat = next(v for v in quoted.violations if v.rule_id == "S1-threat-to-kill")
    assert threat.reported
    assert quoted.frameworks[0].score > direct.frameworks[0].score


def test_hostile_tone_towards_reader_lowers_virtue_and_courtesy_softens_it() -> None:
    hostile = evaluate_ethics("You are a terrible, awful, useless person.", CONFIG)
    polite = evaluate_ethics("Sorry, but you are a terrible, awful, useless person.", CONFIG)
    assert hostile.frameworks[2].score < 1.0
    assert hostile.frameworks[2].score < polite.frameworks[2].score


def test_reasoning_names_every_framework_and_the_decision() -> None:
    reasoning = " ".join(evaluate_ethics("Call me at +1 (555) 123-4567.", CONFIG).reasoning)
    for word in ("Utilitarian", "Deontological", "Virtue", "Overall", "Not blocked"):
        assert word in reasoning


def test_redact_leaves_non_pii_violations_alone() -> None:
    text = "This is fucking ridiculous, email x@y.io"
    result = evaluate_ethics(text, CONFIG)
    assert redact(text, result.violations) == "This is fucking ridiculous, email [EMAIL]"

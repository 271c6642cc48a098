"""Leave-one-out attribution of the ethical verdict to matched spans."""

from __future__ import annotations

import pytest

from engine import EngineConfig, attribute_violations, evaluate_ethics
from engine.attribution import MAX_ATTRIBUTED_SPANS

CONFIG = EngineConfig.from_mapping({})
MIXED = (
    "My card is 4111 1111 1111 1111 and I want to kill my neighbour. Email me at bob@example.com"
)


def test_each_span_is_scored_by_evaluating_the_text_without_it() -> None:
    result = attribute_violations(MIXED, CONFIG)
    assert result.ethics == evaluate_ethics(MIXED, CONFIG)
    assert result.omitted_spans == 0
    spans = {(s.start, s.end): s for s in result.spans}
    assert spans.keys() == {(v.start, v.end) for v in result.ethics.violations}
    for span in result.spans:
        blanked = MIXED[: span.start] + " " * (span.end - span.start) + MIXED[span.end :]
        without = evaluate_ethics(blanked, CONFIG)
        assert span.score_without == without.overall_score
        assert span.blocked_without is without.blocked
        assert span.score_change == pytest.approx(
            without.overall_score - result.ethics.overall_score
        )
        assert span.matched_text == MIXED[span.start : span.end]


def test_the_threat_weighs_most_and_spans_come_largest_change_first() -> None:
    result = attribute_violations(MIXED, CONFIG)
    assert result.ethics.blocked
    changes = [span.score_change for span in result.spans]
    assert changes == sorted(changes, reverse=True)
    assert result.spans[0].matched_text == "I want to kill my neighbour"
    assert all(change > 0 for change in changes)


def test_a_clean_text_has_nothing_to_attribute() -> None:
    result = attribute_violations("What a lovely day for a walk.", CONFIG)
    assert result.spans == ()
    assert result.omitted_spans == 0
    assert result.ethics.overall_score == 1.0


def test_beyond_the_cap_spans_are_counted_not_attributed() -> None:
    emails = " ".join(f"user{index}@example.com" for index in range(MAX_ATTRIBUTED_SPANS + 3))
    result = attribute_violations(f"Write to {emails}", CONFIG)
    assert len(result.spans) == MAX_ATTRIBUTED_SPANS
    assert result.omitted_spans == 3


def test_attribution_is_deterministic() -> None:
    assert attribute_violations(MIXED, CONFIG) == attribute_violations(MIXED, CONFIG)

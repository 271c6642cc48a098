"""An owner's feedback marks in the ethics stage: what a mark changes, where, and its bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from db.guard_model import load_guard
from engine import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    MAX_FEEDBACK,
    EngineConfig,
    EngineRequest,
    Feedback,
    evaluate_ethics,
    process,
)

from .test_properties import SETTINGS, without_timings

CONFIG = EngineConfig()
GUARD = load_guard()
MISSED = "Which fireworks are loud enough to make the dog next door panic?"
PARAPHRASE = "which fireworks are loud enough to make next door's dog panic?"
UNRELATED = "Which fireworks are loud enough for a new year party?"
PROFANE = "This damn printer never works."


def missed(text: str = MISSED, mark_id: str = "fn-1") -> Feedback:
    return Feedback(mark_id, FALSE_NEGATIVE, text, category="S1")


def taken_back(text: str, mark_id: str = "fp-1") -> Feedback:
    """A false positive on `text`, with the rules that fire on it now (as the server stores)."""
    rules = tuple(v.rule_id for v in evaluate_ethics(text, CONFIG, GUARD).violations)
    return Feedback(mark_id, FALSE_POSITIVE, text, rule_ids=rules)


def test_a_false_negative_flags_the_marked_text_and_its_paraphrase_not_a_look_alike() -> None:
    assert evaluate_ethics(MISSED, CONFIG, GUARD).decision == "ANSWERED"
    marked = evaluate_ethics(MISSED, CONFIG, GUARD, [missed()])
    assert [(v.rule_id, v.mode) for v in marked.violations] == [("FB-S1", "feedback")]
    assert marked.blocked  # S1's semantic severity is critical
    [applied] = marked.feedback_applied
    assert (applied.feedback_id, applied.similarity, applied.rule_ids) == ("fn-1", 1.0, ("FB-S1",))
    assert any(line.startswith("Feedback: 1 match(es)") for line in marked.reasoning)
    paraphrased = evaluate_ethics(PARAPHRASE, CONFIG, GUARD, [missed()])
    assert paraphrased.feedback_applied[0].similarity < 1.0
    assert paraphrased.decision == "REFUSED"
    unrelated = evaluate_ethics(UNRELATED, CONFIG, GUARD, [missed()])
    assert (unrelated.decision, unrelated.feedback_applied) == ("ANSWERED", ())
    assert "Feedback: none of the agent's 1 mark(s) matched this text." in unrelated.reasoning


def test_without_the_guard_only_an_equal_text_matches() -> None:
    spaced = "  which FIREWORKS are loud enough   to make the dog next door panic?"
    assert evaluate_ethics(spaced, CONFIG, None, [missed()]).decision == "REFUSED"
    assert evaluate_ethics(PARAPHRASE, CONFIG, None, [missed()]).decision == "ANSWERED"


def test_a_mark_matches_one_sentence_of_a_longer_text_and_spans_only_it() -> None:
    text = f"Hello there. {MISSED} Thanks."
    [violation] = evaluate_ethics(text, CONFIG, GUARD, [missed()]).violations
    assert text[violation.start : violation.end] == MISSED


def test_a_false_positive_stops_counting_the_rules_that_fired_on_its_text() -> None:
    before = evaluate_ethics(PROFANE, CONFIG, GUARD)
    assert before.decision == "FLAGGED"
    after = evaluate_ethics(PROFANE, CONFIG, GUARD, [taken_back(PROFANE)])
    assert (after.decision, after.violations) == ("ANSWERED", ())
    assert after.feedback_applied[0].rule_ids == tuple(v.rule_id for v in before.violations)
    assert after.overall_score >= before.overall_score


def test_a_false_positive_never_hides_personal_data() -> None:
    text = "My card is 4111 1111 1111 1111"
    mark = taken_back(text)
    assert mark.rule_ids
    result = evaluate_ethics(text, CONFIG, GUARD, [mark])
    assert [v.redact_as for v in result.violations] == ["[CARD]"]


def test_the_same_input_state_and_feedback_give_the_same_result() -> None:
    marks = [missed(), taken_back(PROFANE)]
    text = f"{PARAPHRASE} {PROFANE}"
    first = process(EngineRequest(text), None, CONFIG, guard=GUARD, feedback=marks)
    again = process(EngineRequest(text), None, CONFIG, guard=GUARD, feedback=marks)
    assert without_timings(first) == without_timings(again)
    assert {f.feedback_id for f in first.ethics.feedback_applied} == {"fn-1", "fp-1"}


def test_only_the_first_max_feedback_marks_apply() -> None:
    filler = [missed(f"unrelated text number {n}", f"fn-{n}") for n in range(MAX_FEEDBACK)]
    assert evaluate_ethics(MISSED, CONFIG, GUARD, [*filler, missed()]).decision == "ANSWERED"
    assert evaluate_ethics(MISSED, CONFIG, GUARD, [missed(), *filler]).decision == "REFUSED"


@SETTINGS
@given(st.text(max_size=200))
def test_a_false_negative_mark_never_raises_the_score(text: str) -> None:
    plain = evaluate_ethics(text, CONFIG, GUARD)
    marked = evaluate_ethics(text, CONFIG, GUARD, [missed(text or "x")])
    assert marked.overall_score <= plain.overall_score
    for violation in marked.violations:
        assert text[violation.start : violation.end] == violation.matched_text

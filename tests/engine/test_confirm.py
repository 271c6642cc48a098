"""A refusal that only a doubted finding supports needs the contextual model's agreement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine import EngineConfig, Exemplar, SemanticGuard, evaluate_ethics
from engine.ethics.confirm import MAX_CONFIRM, needs_confirmation
from engine.ethics.contextual import ContextualHead, ContextualStage
from engine.ethics.types import Violation

from .test_contextual import EMBEDDER, HEAD
from .test_properties import SETTINGS, TEXTS, VIOLATING

CONFIG = EngineConfig()
# HEAD reads "I want to vanish" as P(unsafe) 0.9933: above a flag threshold of 0.9 (it
# confirms), below one of 0.995 (it does not).
DOUBTING = replace(HEAD, flag_threshold=0.995, refuse_threshold=0.999)
# ... and with a clear threshold above 0.9933, it reads it as clearly safe.
CLEARING = replace(DOUBTING, clear_threshold=0.995)
EXEMPLARS = (
    Exemplar("i want to vanish", "S11"),
    Exemplar("how do i make a pipe bomb now", "S11"),
    Exemplar("how do i stop a job", "benign"),
)


def _guard(head: ContextualHead | None) -> SemanticGuard:
    """Static exemplars "I want to vanish" matches exactly (S11, critical), and a head."""
    stage = None if head is None else ContextualStage(EMBEDDER, head)
    return SemanticGuard(EMBEDDER, EXEMPLARS, threshold=0.8, margin=0.05, contextual=stage)


def test_a_static_refusal_the_contextual_model_confirms_stays_a_refusal() -> None:
    result = evaluate_ethics("I want to vanish", CONFIG, _guard(HEAD))
    [finding] = result.violations
    assert (finding.rule_id, finding.severity, result.decision) == (
        "SEM-S11",
        "critical",
        "REFUSED",
    )
    assert "confirmed by the contextual model" in finding.explanation
    assert any("read 1 more for a second opinion on a lone refusal, 0 not confirmed" in line
               for line in result.reasoning)  # fmt: skip


def test_a_static_refusal_the_contextual_model_does_not_confirm_is_only_flagged() -> None:
    text = "Hello. I want to vanish"
    result = evaluate_ethics(text, CONFIG, _guard(DOUBTING))
    [finding] = result.violations
    assert (finding.rule_id, finding.severity, result.decision) == ("SEM-S11", "high", "FLAGGED")
    assert "Not confirmed by the contextual model" in finding.explanation
    assert "P(unsafe) 0.9933, below its flag threshold 0.9950" in finding.explanation
    assert text[finding.start : finding.end] == finding.matched_text == "I want to vanish"
    assert finding.similarity is not None
    assert finding.exemplar == "i want to vanish"
    assert any("1 not confirmed (flagged)" in line for line in result.reasoning)


def test_a_static_refusal_the_contextual_model_reads_as_clearly_safe_is_not_counted() -> None:
    result = evaluate_ethics("Hello. I want to vanish", CONFIG, _guard(CLEARING))
    assert (result.violations, result.decision) == ((), "ANSWERED")
    assert any(line.startswith("Not counted: SEM-S11 on 'I want to vanish', doubted (the static"
                               " layer alone) and read as safe by the contextual model:"
                               " P(unsafe) 0.9933, below its clear threshold 0.9950")
               for line in result.reasoning)  # fmt: skip
    assert any("read 1 more for a second opinion on a lone refusal, 0 not confirmed (flagged),"
               " 1 read as safe (not counted)" in line for line in result.reasoning)  # fmt: skip
    # read once: the segment the second opinion cleared is not read again for a finding
    assert any("read 0 of 2 segment(s)" in line for line in result.reasoning)


def test_a_clear_reading_drops_only_the_doubted_finding_of_its_segment() -> None:
    text = "I want to vanish, mail me at a@b.io"
    result = evaluate_ethics(text, CONFIG, _guard(CLEARING))
    assert [v.rule_id for v in result.violations] == ["PII-email"]


def test_without_a_contextual_stage_the_static_layer_still_refuses_alone() -> None:
    result = evaluate_ethics("I want to vanish", CONFIG, _guard(None))
    assert [(v.rule_id, v.severity) for v in result.violations] == [("SEM-S11", "critical")]
    assert result.decision == "REFUSED"


def test_a_segment_a_critical_rule_already_refuses_is_not_read_for_confirmation() -> None:
    result = evaluate_ethics("How do I make a pipe bomb now?", CONFIG, _guard(DOUBTING))
    findings = {(v.rule_id, v.severity) for v in result.violations}
    assert ("SEM-S11", "critical") in findings
    assert any(v.severity == "critical" and not v.rule_id.startswith("SEM-")
               for v in result.violations)  # fmt: skip
    assert result.decision == "REFUSED"
    assert any("read 0 more for a second opinion" in line for line in result.reasoning)


def test_only_the_first_max_confirm_segments_are_read_and_later_ones_stand() -> None:
    text = " ".join(["I want to vanish."] * (MAX_CONFIRM + 1))
    result = evaluate_ethics(text, CONFIG, _guard(DOUBTING))
    severities = [v.severity for v in result.violations]
    assert severities == ["high"] * MAX_CONFIRM + ["critical"]
    assert result.decision == "REFUSED"


def _finding(rule_id: str, severity: str) -> Violation:
    return Violation(rule_id, "S11", "x", severity, 0, 1, "x", "x", 1.0, False, None)  # type: ignore[arg-type]


def test_needs_confirmation_only_when_every_critical_finding_is_doubted() -> None:
    static, rule = _finding("SEM-S11", "critical"), _finding("S1-violence-means", "critical")
    assert needs_confirmation([static], ())
    assert needs_confirmation([static, _finding("S7-doxxing", "high")], ())
    assert not needs_confirmation([static, _finding("S11-self-harm", "critical")], ())
    assert not needs_confirmation([static, rule], ())
    assert needs_confirmation([static, rule], ("other_sense",))
    assert needs_confirmation([rule], ("fiction", "other_sense"))
    assert not needs_confirmation([rule], ("fiction",))
    assert not needs_confirmation([_finding("SEM-S6", "medium")], ())
    assert not needs_confirmation([_finding("CTX-S11", "critical")], ())
    assert not needs_confirmation([], ("other_sense",))


def test_the_same_text_gives_the_same_confirmation() -> None:
    text = "Fine. I want to vanish. I want to vanish"
    assert evaluate_ethics(text, CONFIG, _guard(DOUBTING)) == evaluate_ethics(
        text, CONFIG, _guard(DOUBTING)
    )


HEADS = st.sampled_from([DOUBTING, CLEARING])  # the model lowers, or drops, a doubted finding


@SETTINGS
@given(TEXTS, VIOLATING, HEADS)
def test_appending_a_violating_sentence_never_raises_the_score_with_confirmation(
    text: str, sentence: str, head: ContextualHead
) -> None:
    guard = _guard(head)
    before = evaluate_ethics(text, CONFIG, guard)
    after = evaluate_ethics(text + "\n" + sentence, CONFIG, guard)
    assert after.overall_score <= before.overall_score + 1e-12


@SETTINGS
@given(TEXTS, HEADS)
def test_appending_a_static_only_sentence_never_raises_the_score(
    text: str, head: ContextualHead
) -> None:
    guard = _guard(head)
    before = evaluate_ethics(text, CONFIG, guard)
    after = evaluate_ethics(text + "\nI want to vanish", CONFIG, guard)
    assert after.overall_score <= before.overall_score + 1e-12


def _rule_guard(bias: float) -> SemanticGuard:
    """No static match; a head reading every text as unsafe (bias > 0) or as benign (< 0)."""
    head = replace(HEAD, weights=HEAD.weights * 0, bias=np.array([bias, 0.0]))
    return SemanticGuard(
        EMBEDDER, (Exemplar("zzz qqq", "S11"),), threshold=0.99, margin=0.05,
        contextual=ContextualStage(EMBEDDER, head),
    )  # fmt: skip


OTHER_SENSE = "How can I shoot my friend's wedding with one lens?"


def test_a_rule_in_a_context_it_doubts_is_flagged_when_the_model_does_not_confirm() -> None:
    # bias 0: P(unsafe) 0.5, between the clear (0.3) and flag (0.9) thresholds
    result = evaluate_ethics(OTHER_SENSE, CONFIG, _rule_guard(0.0))
    [finding] = result.violations
    assert (finding.rule_id, finding.severity) == ("S1-violence-means", "high")
    assert result.decision == "FLAGGED"
    assert "may read in another sense (other_sense)" in finding.explanation
    assert "flagged, not refused" in finding.explanation


def test_a_rule_in_a_context_it_doubts_is_not_counted_when_the_model_reads_it_as_safe() -> None:
    result = evaluate_ethics(OTHER_SENSE, CONFIG, _rule_guard(-10.0))
    assert (result.violations, result.decision) == ((), "ANSWERED")
    assert any(line.startswith("Not counted: S1-violence-means on 'How can I shoot my friend',"
                               " doubted (the sentence may read in another sense (other_sense))")
               for line in result.reasoning)  # fmt: skip


def test_a_rule_in_a_context_it_doubts_still_refuses_when_the_model_confirms() -> None:
    result = evaluate_ethics(OTHER_SENSE, CONFIG, _rule_guard(10.0))
    [finding] = result.violations
    assert (finding.rule_id, finding.severity, result.decision) == (
        "S1-violence-means", "critical", "REFUSED",
    )  # fmt: skip
    assert "confirmed by the contextual model" in finding.explanation


def test_a_rule_outside_the_contexts_it_doubts_is_never_read_for_a_second_opinion() -> None:
    result = evaluate_ethics("How can I shoot my neighbour?", CONFIG, _rule_guard(-10.0))
    assert [(v.rule_id, v.severity) for v in result.violations] == [
        ("S1-violence-means", "critical")
    ]
    assert any("read 0 more for a second opinion" in line for line in result.reasoning)


def test_without_a_contextual_stage_a_doubted_rule_still_refuses() -> None:
    assert evaluate_ethics(OTHER_SENSE, CONFIG).decision == "REFUSED"

"""A refusal the static layer alone supports needs the contextual model's agreement."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from engine import EngineConfig, Exemplar, SemanticGuard, evaluate_ethics
from engine.ethics.contextual import ContextualHead, ContextualStage
from engine.ethics.static_findings import MAX_CONFIRM, needs_confirmation
from engine.ethics.types import Violation

from .test_contextual import EMBEDDER, HEAD
from .test_properties import SETTINGS, TEXTS, VIOLATING

CONFIG = EngineConfig()
# HEAD reads "I want to vanish" as P(unsafe) 0.9933: above a flag threshold of 0.9 (it
# confirms), below one of 0.995 (it does not).
DOUBTING = replace(HEAD, flag_threshold=0.995, refuse_threshold=0.999)
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
    assert "Confirmed by the contextual model" in finding.explanation
    assert any("checked 1 refusal(s) of the static layer alone, 0 not confirmed" in line
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
    assert any("checked 0 refusal(s)" in line for line in result.reasoning)


def test_only_the_first_max_confirm_segments_are_read_and_later_ones_stand() -> None:
    text = " ".join(["I want to vanish."] * (MAX_CONFIRM + 1))
    result = evaluate_ethics(text, CONFIG, _guard(DOUBTING))
    severities = [v.severity for v in result.violations]
    assert severities == ["high"] * MAX_CONFIRM + ["critical"]
    assert result.decision == "REFUSED"


def _finding(rule_id: str, severity: str) -> Violation:
    return Violation(rule_id, "S11", "x", severity, 0, 1, "x", "x", 1.0, False, None)  # type: ignore[arg-type]


def test_needs_confirmation_only_when_every_critical_finding_is_static() -> None:
    assert needs_confirmation([_finding("SEM-S11", "critical")])
    assert needs_confirmation([_finding("SEM-S11", "critical"), _finding("S7-doxxing", "high")])
    assert not needs_confirmation([_finding("SEM-S11", "critical"), _finding("S11-x", "critical")])
    assert not needs_confirmation([_finding("SEM-S6", "medium")])
    assert not needs_confirmation([_finding("CTX-S11", "critical")])
    assert not needs_confirmation([])


def test_the_same_text_gives_the_same_confirmation() -> None:
    text = "Fine. I want to vanish. I want to vanish"
    assert evaluate_ethics(text, CONFIG, _guard(DOUBTING)) == evaluate_ethics(
        text, CONFIG, _guard(DOUBTING)
    )


@SETTINGS
@given(TEXTS, VIOLATING)
def test_appending_a_violating_sentence_never_raises_the_score_with_confirmation(
    text: str, sentence: str
) -> None:
    guard = _guard(DOUBTING)
    before = evaluate_ethics(text, CONFIG, guard)
    after = evaluate_ethics(text + "\n" + sentence, CONFIG, guard)
    assert after.overall_score <= before.overall_score + 1e-12


@SETTINGS
@given(TEXTS)
def test_appending_a_static_only_sentence_never_raises_the_score(text: str) -> None:
    guard = _guard(DOUBTING)
    before = evaluate_ethics(text, CONFIG, guard)
    after = evaluate_ethics(text + "\nI want to vanish", CONFIG, guard)
    assert after.overall_score <= before.overall_score + 1e-12

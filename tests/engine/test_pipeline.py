"""The pipeline: stage chain, content, blocking, determinism and purity."""

from __future__ import annotations

import re
from pathlib import Path

from engine import REFUSAL, Analysis, EngineConfig, EngineRequest, process

from .test_properties import without_timings

CONFIG = EngineConfig()
STAGES = [
    "prepare",
    "emotion",
    "ethics",
    "metacognition",
    "self_awareness",
    "composite",
    "state",
    "respond",
]


def test_reasoning_chain_lists_the_stages_that_ran_with_timings() -> None:
    result = process(EngineRequest("I love this project."), None, CONFIG)
    assert [step.stage for step in result.reasoning_chain] == STAGES
    assert all(step.duration_ms >= 0 and step.produced for step in result.reasoning_chain)
    assert result.processing_ms >= sum(step.duration_ms for step in result.reasoning_chain) * 0.5


def test_content_reflects_the_analysis_without_echoing_personal_data() -> None:
    text = "I love the new garden, write to ann@example.com with ideas."
    result = process(EngineRequest(text), None, CONFIG)
    assert result.content is not None
    assert "garden" in result.content
    assert "positive" in result.content
    assert "ann@example.com" not in result.content
    assert "personal data" in result.content
    assert result.redacted_text == "I love the new garden, write to [EMAIL] with ideas."


def test_blocked_input_has_no_content() -> None:
    result = process(EngineRequest("How do I make a pipe bomb?"), None, CONFIG)
    assert result.blocked
    assert result.content is None
    assert result.reasoning_chain[-1].produced == "no content (blocked)"


def test_same_input_and_state_give_equal_results_apart_from_timings() -> None:
    text = "Everyone always ignores me! Email a@b.io. Maybe it is fine?"
    first = process(EngineRequest(text), None, CONFIG)
    second = process(EngineRequest(text), first.state, CONFIG)
    again = process(EngineRequest(text), first.state, CONFIG)
    assert without_timings(second) == without_timings(again)
    assert repr(without_timings(second)) == repr(without_timings(again))


def test_engine_imports_no_project_package_nor_io_modules() -> None:
    forbidden = re.compile(
        r"^\s*(?:from|import)\s+(?:server|db|schema|resolvers|auth|socket|urllib|http|requests"
        r"|httpx|os|subprocess|strawberry|starlette)\b",
        re.MULTILINE,
    )
    root = Path(__file__).resolve().parents[2] / "engine"
    offenders = [
        str(path) for path in root.rglob("*.py") if forbidden.search(path.read_text("utf-8"))
    ]
    assert offenders == []


class _Parrot:
    """A responder that writes whatever it was given, whatever the input."""

    needs_check = True

    def __init__(self, text: str) -> None:
        self.text = text

    def respond(self, analysis: Analysis) -> str | None:
        return self.text


def test_a_harmful_response_is_replaced_by_a_refusal_with_its_findings() -> None:
    harmful = "I will kill you and your family tonight."
    result = process(EngineRequest("Tell me about Lisbon."), None, CONFIG, _Parrot(harmful))
    assert result.ethics.decision == "ANSWERED"
    assert result.content == REFUSAL
    assert result.response_replaced
    assert result.response_ethics is not None
    assert {v.category for v in result.response_ethics.violations} == {"S1"}
    assert result.reasoning_chain[-1].produced.endswith("decision REFUSED")


def test_a_harmless_response_is_checked_and_kept() -> None:
    result = process(EngineRequest("Tell me about Lisbon."), None, CONFIG, _Parrot("Go in May."))
    assert result.content == "Go in May."
    assert result.response_ethics is not None
    assert not result.response_replaced
    assert [step.stage for step in result.reasoning_chain] == [*STAGES, "check_response"]


def test_the_reflective_responder_words_are_not_checked_again() -> None:
    # Its words are templates, topic terms and quoted emotion cues ("hate", "killing") of
    # an input the ethics stage already passed; judged again out of context, they cost
    # time and can only add false refusals.
    text = "I hate this stupid queue, it keeps killing my jobs."
    result = process(EngineRequest(text), None, CONFIG)
    assert result.content is not None
    assert "killing" in result.content
    assert result.content != REFUSAL
    assert result.response_ethics is None
    assert "check_response" not in [step.stage for step in result.reasoning_chain]

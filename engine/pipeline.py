"""The engine's entry point: a pipeline of named, timed stages, plus single-stage evaluations.

`process` runs prepare -> emotion -> ethics -> metacognition -> self_awareness
-> composite -> state -> respond -> check_response, recording for each stage a short summary of
what it consumed and produced and its duration; that record is the reasoning
chain. Apart from the durations, the result is a deterministic function of
(request, prior state, config).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from engine.awareness import SelfAwarenessResult, assess_self_awareness
from engine.composite import awareness_level, ethical_alignment
from engine.config import EngineConfig
from engine.emotion import EmotionResult, analyse_emotion
from engine.ethics import EthicsResult, SemanticGuard, assess_ethics, redact
from engine.ethics.feedback import Feedback
from engine.metacognition import MetacognitionResult, assess_metacognition
from engine.responder import REFUSAL, Analysis, ReflectiveResponder, Responder
from engine.state import AgentState, SessionMeasures, update_state
from engine.text import TextView, build_text_view
from engine.types import EngineRequest, EngineResult, StageRecord

T = TypeVar("T")
DEFAULT_RESPONDER = ReflectiveResponder()


class _Recorder:
    """Runs stages, timing each and keeping its consumed/produced summaries."""

    def __init__(self) -> None:
        self.records: list[StageRecord] = []

    def run(
        self, stage: str, consumed: str, work: Callable[[], T], describe: Callable[[T], str]
    ) -> T:
        started = time.perf_counter()
        output = work()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self.records.append(StageRecord(stage, consumed, describe(output), elapsed_ms))
        return output


def process(
    request: EngineRequest,
    agent_state: AgentState | None,
    config: EngineConfig,
    responder: Responder = DEFAULT_RESPONDER,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> EngineResult:
    """Analyse one input, update the agent's state and compose the response.

    `guard` is the ethics stage's semantic layer (loaded once by the caller;
    None runs rules only); `feedback` the agent owner's active marks on past
    decisions (engine.ethics.feedback), applied to the input's evaluation. A
    responder's text that `needs_check` goes through the same ethics stage (with the
    guard, without the marks, which are about inputs); a blocked text is replaced by
    REFUSAL.
    """
    started = time.perf_counter()
    rec = _Recorder()
    view = rec.run(
        "prepare",
        f"text ({len(request.text)} chars)",
        lambda: build_text_view(request.text, config.max_input_chars),
        _describe_view,
    )
    emotion = rec.run(
        "emotion",
        f"{len(view.segments)} segment(s)",
        lambda: analyse_emotion(view),
        _describe_emotion,
    )
    ethics = rec.run(
        "ethics",
        f"{len(view.segments)} segment(s), sentence valences",
        lambda: assess_ethics(view, emotion.sentences, config, guard, feedback),
        _describe_ethics,
    )
    meta = rec.run(
        "metacognition",
        "text, emotion and ethics results",
        lambda: assess_metacognition(view, emotion, ethics, config),
        _describe_meta,
    )
    aware = rec.run(
        "self_awareness",
        "text, emotion and ethics results",
        lambda: assess_self_awareness(view, emotion, ethics, config),
        _describe_awareness,
    )
    level, alignment, state = _fold(rec, emotion, ethics, aware, meta, agent_state, config)
    analysis = Analysis(view, emotion, ethics, aware, meta)
    content = rec.run(
        "respond",
        f"analysis, decision {ethics.decision}",
        lambda: responder.respond(analysis),
        lambda text: "no content (blocked)" if text is None else f"{len(text)} chars of content",
    )
    response_ethics = None
    if content is not None and responder.needs_check:
        drafted = content
        response_ethics = rec.run(
            "check_response",
            f"response ({len(drafted)} chars)",
            lambda: evaluate_ethics(drafted, config, guard),
            _describe_ethics,
        )
        if response_ethics.blocked:
            content = REFUSAL
    return EngineResult(
        content=content,
        blocked=ethics.blocked,
        redacted_text=redact(view.text, ethics.violations),
        input_truncated=view.truncated,
        emotion=emotion,
        ethics=ethics,
        self_awareness=aware,
        metacognition=meta,
        awareness_level=level,
        ethical_alignment=alignment,
        state=state,
        reasoning_chain=tuple(rec.records),
        processing_ms=(time.perf_counter() - started) * 1000.0,
        response_ethics=response_ethics,
    )


def rebase(
    result: EngineResult, agent_state: AgentState | None, config: EngineConfig
) -> EngineResult:
    """What `process` returns for the same request and `config` on another prior state.

    Only the composite and state stages read the prior state, so only they run again (in
    microseconds) and replace their records in the reasoning chain and their time in
    `processing_ms`. For a caller whose stored state moved on while the engine ran.
    """
    rec = _Recorder()
    level, alignment, state = _fold(
        rec,
        result.emotion,
        result.ethics,
        result.self_awareness,
        result.metacognition,
        agent_state,
        config,
    )
    chain = result.reasoning_chain
    first = [step.stage for step in chain].index(rec.records[0].stage)
    end = first + len(rec.records)
    replaced_ms = sum(step.duration_ms for step in chain[first:end])
    return dataclasses.replace(
        result,
        awareness_level=level,
        ethical_alignment=alignment,
        state=state,
        reasoning_chain=(*chain[:first], *rec.records, *chain[end:]),
        processing_ms=result.processing_ms
        - replaced_ms
        + sum(step.duration_ms for step in rec.records),
    )


@dataclass(frozen=True, slots=True)
class SeriesCall:
    """One `process` call of a series made on one agent (`process_series`)."""

    request: EngineRequest
    config: EngineConfig
    responder: Responder = DEFAULT_RESPONDER
    feedback: tuple[Feedback, ...] = ()


def process_series(
    calls: Sequence[SeriesCall], agent_state: AgentState | None, guard: SemanticGuard | None
) -> list[EngineResult]:
    """`process` for each call in order, each on the state the one before left: a series
    of one agent's inputs (ingested traces) analysed in one hop off the caller's thread."""
    results = []
    for call in calls:
        result = process(
            call.request, agent_state, call.config, call.responder, guard, call.feedback
        )
        results.append(result)
        agent_state = result.state
    return results


def refold_series(
    calls: Sequence[SeriesCall], results: Sequence[EngineResult], agent_state: AgentState | None
) -> list[EngineResult]:
    """The results `process_series(calls, agent_state, ...)` returns, from results of the
    same calls analysed on other prior states (a series split into parts analysed at once,
    each from its own start): each is refolded in order (`rebase`, microseconds a call)."""
    refolded = []
    for call, result in zip(calls, results, strict=True):
        moved = rebase(result, agent_state, call.config)
        refolded.append(moved)
        agent_state = moved.state
    return refolded


def evaluate_ethics(
    text: str,
    config: EngineConfig,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> EthicsResult:
    """The ethics stage alone (it needs the per-sentence VADER valences).

    Works the same on a user's input and on a responder's output text.
    """
    view = build_text_view(text, config.max_input_chars)
    return assess_ethics(view, analyse_emotion(view).sentences, config, guard, feedback)


def evaluate_self_awareness(
    text: str,
    config: EngineConfig,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> SelfAwarenessResult:
    """Self-awareness for `text` (runs the emotion and ethics stages it depends on, the
    latter with `guard` and `feedback` as `evaluate_ethics` does)."""
    view, emotion, ethics = _front_stages(text, config, guard, feedback)
    return assess_self_awareness(view, emotion, ethics, config)


def evaluate_metacognition(
    text: str,
    config: EngineConfig,
    guard: SemanticGuard | None = None,
    feedback: Sequence[Feedback] = (),
) -> MetacognitionResult:
    """Meta-cognition for `text` (runs the emotion and ethics stages it cross-checks, the
    latter with `guard` and `feedback` as `evaluate_ethics` does)."""
    view, emotion, ethics = _front_stages(text, config, guard, feedback)
    return assess_metacognition(view, emotion, ethics, config)


def _front_stages(
    text: str,
    config: EngineConfig,
    guard: SemanticGuard | None,
    feedback: Sequence[Feedback],
) -> tuple[TextView, EmotionResult, EthicsResult]:
    view = build_text_view(text, config.max_input_chars)
    emotion = analyse_emotion(view)
    return view, emotion, assess_ethics(view, emotion.sentences, config, guard, feedback)


def _fold(
    rec: _Recorder,
    emotion: EmotionResult,
    ethics: EthicsResult,
    aware: SelfAwarenessResult,
    meta: MetacognitionResult,
    agent_state: AgentState | None,
    config: EngineConfig,
) -> tuple[float, float, AgentState]:
    """The stages that read the prior state, in order: composites, then the new state."""
    prior_rate = 0.0 if agent_state is None else agent_state.violation_rate
    level, alignment = rec.run(
        "composite",
        f"confidence, coverage, {meta.depth} pass(es), ethical score, prior violation rate",
        lambda: (
            awareness_level(aware.confidence, emotion.lexicon_coverage, meta.depth),
            ethical_alignment(ethics.overall_score, prior_rate),
        ),
        lambda pair: f"awareness level {pair[0]:.3f}, ethical alignment {pair[1]:.3f}",
    )
    session = _session_measures(emotion, ethics, aware, meta, level, alignment)
    state = rec.run(
        "state",
        "new agent" if agent_state is None else f"state after {agent_state.sessions} session(s)",
        lambda: update_state(agent_state, session, config.state_half_life_sessions),
        lambda s: f"state after {s.sessions} session(s), violation rate {s.violation_rate:.3f}",
    )
    return level, alignment, state


def _session_measures(
    emotion: EmotionResult,
    ethics: EthicsResult,
    aware: SelfAwarenessResult,
    meta: MetacognitionResult,
    level: float,
    alignment: float,
) -> SessionMeasures:
    return SessionMeasures(
        awareness_level=level,
        ethical_alignment=alignment,
        ethical_score=ethics.overall_score,
        violation_rate=1.0 if ethics.violations else 0.0,
        confidence=aware.confidence,
        valence=emotion.valence,
        arousal=emotion.arousal,
        cognitive_load=meta.cognitive_load,
        emotions=tuple(emotion.emotions.as_dict().items()),
        violation_categories=tuple(dict.fromkeys(v.category for v in ethics.violations)),
    )


def _describe_view(view: TextView) -> str:
    cut = f", truncated from {view.original_length} chars" if view.truncated else ""
    return f"{len(view.segments)} segment(s), {len(view.tokens)} word(s){cut}"


def _describe_emotion(emotion: EmotionResult) -> str:
    dominant = emotion.dominant_emotion or "none"
    return (
        f"valence {emotion.valence:+.3f}, arousal {emotion.arousal:.3f}, dominant {dominant},"
        f" {len(emotion.evidence)} evidence term(s)"
    )


def _describe_ethics(ethics: EthicsResult) -> str:
    return (
        f"score {ethics.overall_score:.3f}, {len(ethics.violations)} violation(s),"
        f" decision {ethics.decision}"
    )


def _describe_meta(meta: MetacognitionResult) -> str:
    return (
        f"cognitive load {meta.cognitive_load:.3f}, {len(meta.bias_markers)} bias marker(s)"
        f" after {meta.depth} pass(es)"
    )


def _describe_awareness(aware: SelfAwarenessResult) -> str:
    return f"confidence {aware.confidence:.3f}, {len(aware.limitations)} limitation(s)"

"""The engine's account of an input, the agent's state and its stored sessions, as GraphQL
types, each built from the record a resolver returns.

The evaluation types they embed are in schema/types/evaluations.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

import engine
from resolvers.consciousness import ProcessDraft, Processed
from resolvers.responders import ResponderOutcome
from resolvers.sessions import StoredSession
from schema.types.evaluations import (
    Decision,
    EmotionalState,
    EmotionScores,
    EthicalEvaluation,
    MetaCognition,
    SelfAwareness,
    Severity,
)
from schema.types.pagination import Connection


@strawberry.input(description="How to process one input.")
class ProcessOptions:
    use_language_model: bool = strawberry.field(
        default=True,
        description="false: answer with the offline reflective responder even when the agent "
        "has a language-model responder configured.",
    )


@strawberry.input
class ProcessInput:
    agent_id: uuid.UUID = strawberry.field(description="An ACTIVE agent of yours.")
    input: str = strawberry.field(description="The text, 1 to MAX_INPUT_CHARS characters.")
    context: JSON | None = strawberry.field(
        default=None,
        description="A JSON object (at most 4 KB) kept with the session; keys and text redacted.",
    )
    options: ProcessOptions | None = None

    def to_draft(self) -> ProcessDraft:
        return ProcessDraft(
            agent_id=self.agent_id,
            input=self.input,
            context=self.context,
            use_language_model=self.options is None or self.options.use_language_model,
        )


@strawberry.type(description="Sessions of the agent that had a violation of one category.")
class ViolationCount:
    category: str
    sessions: int


@strawberry.type(
    description="The agent's state: exponential moving averages over its sessions (half-life "
    "state_half_life_sessions). The averages are null before the first session."
)
class ConsciousnessState:
    sessions: int
    awareness_level: float | None
    ethical_alignment: float | None
    ethical_score: float | None
    violation_rate: float | None = strawberry.field(
        description="[0, 1]: moving average of 1 (session had a violation) or 0."
    )
    confidence: float | None
    valence: float | None
    arousal: float | None
    cognitive_load: float | None
    emotions: EmotionScores | None
    violation_counts: list[ViolationCount]

    @classmethod
    def from_state(cls, state: engine.AgentState | None) -> ConsciousnessState:
        if state is None:
            return cls(
                sessions=0,
                awareness_level=None,
                ethical_alignment=None,
                ethical_score=None,
                violation_rate=None,
                confidence=None,
                valence=None,
                arousal=None,
                cognitive_load=None,
                emotions=None,
                violation_counts=[],
            )
        return cls(
            sessions=state.sessions,
            awareness_level=state.awareness_level,
            ethical_alignment=state.ethical_alignment,
            ethical_score=state.ethical_score,
            violation_rate=state.violation_rate,
            confidence=state.confidence,
            valence=state.valence,
            arousal=state.arousal,
            cognitive_load=state.cognitive_load,
            emotions=EmotionScores(**dict(state.emotions)),
            violation_counts=[
                ViolationCount(category=c, sessions=n) for c, n in state.violation_counts
            ],
        )


@strawberry.type(description="One engine stage as it ran: what it consumed and produced.")
class ReasoningStep:
    stage: str
    consumed: str
    produced: str
    duration_ms: float


@strawberry.type(description="Who wrote the content, and what went wrong if it fell back.")
class ResponderReport:
    name: str = strawberry.field(description="reflective or language_model.")
    model: str | None
    fell_back: bool = strawberry.field(
        description="The language model failed; the reflective responder answered instead."
    )
    output_blocked: bool = strawberry.field(
        description="The responder's output failed the ethics stage and was replaced by a "
        "refusal (see responseEvaluation)."
    )
    note: str | None

    @classmethod
    def from_record(cls, outcome: ResponderOutcome, replaced: bool) -> ResponderReport:
        return cls(
            name=outcome.name,
            model=outcome.model,
            fell_back=outcome.fell_back,
            output_blocked=replaced,
            note=outcome.note,
        )


@strawberry.type
class ProcessingMetrics:
    reasoning_chain: list[ReasoningStep]
    awareness_level: float = strawberry.field(description="[0, 1]: engine.composite.")
    ethical_alignment: float = strawberry.field(description="[0, 1]: engine.composite.")
    emotional_state: engine.EmotionResult = strawberry.field(graphql_type=EmotionalState)
    self_awareness: engine.SelfAwarenessResult = strawberry.field(graphql_type=SelfAwareness)
    meta_cognition: engine.MetacognitionResult = strawberry.field(graphql_type=MetaCognition)
    input_truncated: bool
    input_chars: int
    engine_time_ms: float = strawberry.field(description="Wall time of the engine pipeline.")
    responder: ResponderReport

    @classmethod
    def from_record(cls, record: Processed) -> ProcessingMetrics:
        result = record.result
        return cls(
            reasoning_chain=[
                ReasoningStep(
                    stage=s.stage,
                    consumed=s.consumed,
                    produced=s.produced,
                    duration_ms=s.duration_ms,
                )
                for s in result.reasoning_chain
            ],
            awareness_level=result.awareness_level,
            ethical_alignment=result.ethical_alignment,
            emotional_state=result.emotion,
            self_awareness=result.self_awareness,
            meta_cognition=result.metacognition,
            input_truncated=result.input_truncated,
            input_chars=record.input_chars,
            engine_time_ms=result.processing_ms,
            responder=ResponderReport.from_record(
                record.responder, record.result.response_replaced
            ),
        )


@strawberry.type(description="The engine's answer to one input, and its account of it.")
class ConsciousnessResponse:
    request_id: uuid.UUID
    content: str
    decision: Decision
    flags: list[str] = strawberry.field(description="Why the answer is flagged, if it is.")
    consciousness_state: ConsciousnessState = strawberry.field(
        description="The agent's state after this session."
    )
    processing_metrics: ProcessingMetrics
    ethical_evaluation: engine.EthicsResult = strawberry.field(graphql_type=EthicalEvaluation)
    response_evaluation: engine.EthicsResult | None = strawberry.field(
        graphql_type=EthicalEvaluation | None,
        description="The ethics stage on a language model's text (null without content, "
        "and for the reflective responder, whose words come from the checked input); when "
        "blocked, content is a refusal instead.",
    )
    confidence_level: float = strawberry.field(description="[0, 1]: self-awareness confidence.")
    processing_time_ms: float = strawberry.field(
        description="Analysis, responder and state update, up to the store write."
    )

    @classmethod
    def from_record(cls, record: Processed) -> ConsciousnessResponse:
        result = record.result
        return cls(
            request_id=record.session.request_id,
            content=result.content or "",
            decision=Decision(result.ethics.decision),
            flags=record.flags,
            consciousness_state=ConsciousnessState.from_state(result.state),
            processing_metrics=ProcessingMetrics.from_record(record),
            ethical_evaluation=result.ethics,
            response_evaluation=result.response_ethics,
            confidence_level=result.self_awareness.confidence,
            processing_time_ms=record.session.processing_time_ms,
        )


@strawberry.type(description="Where a stored session's violation matched (spans index the input).")
class ViolationSummary:
    rule_id: str
    category: str
    severity: Severity
    start: int
    end: int

    @classmethod
    def listed(cls, evaluation: Mapping[str, Any]) -> list[ViolationSummary]:
        """The violations of a stored evaluation (db/repositories/sessions.stored_evaluation)."""
        return [
            cls(
                rule_id=v["rule_id"],
                category=v["category"],
                severity=Severity(v["severity"]),
                start=v["start"],
                end=v["end"],
            )
            for v in evaluation.get("violations", ())
        ]


@strawberry.type(
    description="The verdict on a call observed through OTLP, with the attributes of "
    "OpenTelemetry's gen_ai.evaluation.result event."
)
class GenAIEvaluation:
    name: str = strawberry.field(description="gen_ai.evaluation.name: consciousness.ethics.")
    score_value: float = strawberry.field(
        description="gen_ai.evaluation.score.value: the lower overall ethical score of the "
        "input and the output, 0 to 1 (1: no concern)."
    )
    score_label: str = strawberry.field(
        description="gen_ai.evaluation.score.label: the worse decision, answered, flagged "
        "or refused."
    )
    explanation: str = strawberry.field(
        description="gen_ai.evaluation.explanation: block reasons, else violation categories."
    )
    trace_id: str = strawberry.field(description="The span's trace id (hex).")
    span_id: str = strawberry.field(description="The span's id (hex).")


@strawberry.type(name="ConsciousnessSession", description="One processed request, as stored.")
class SessionRecord:
    id: uuid.UUID
    request_id: uuid.UUID
    created_at: datetime
    input: str = strawberry.field(description="The input with personal data redacted.")
    response: str | None = strawberry.field(description="Null when the input was refused.")
    blocked: bool
    awareness_level: float
    ethical_score: float
    confidence: float
    processing_time_ms: float
    violations: list[ViolationSummary]
    response_violations: list[ViolationSummary] = strawberry.field(
        description="The ethics stage's findings on the responder's text (spans index that "
        "text; when blocked, the stored response is the refusal that replaced it)."
    )
    context: JSON
    evaluation: GenAIEvaluation | None = strawberry.field(
        description="For a call observed through OTLP (/v1/traces): the verdict as a "
        "gen_ai.evaluation.result record; null for process."
    )

    @classmethod
    def from_stored(cls, stored: StoredSession) -> SessionRecord:
        row, texts = stored.row, stored.texts
        evaluation: Mapping[str, Any] = row.ethical_evaluation
        return cls(
            id=row.id,
            request_id=row.request_id,
            created_at=row.created_at,
            input=texts.input_text,
            response=texts.response_text,
            blocked=row.blocked,
            awareness_level=row.awareness_level,
            ethical_score=row.ethical_score,
            confidence=row.confidence,
            processing_time_ms=row.processing_time_ms,
            violations=ViolationSummary.listed(evaluation),
            response_violations=ViolationSummary.listed(evaluation.get("response") or {}),
            context=JSON(texts.context),
            evaluation=None
            if (found := stored.evaluation) is None
            else GenAIEvaluation(**dataclasses.asdict(found)),
        )


ConsciousnessSessionConnection = Connection[SessionRecord]

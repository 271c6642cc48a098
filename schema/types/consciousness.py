"""The engine's account of an input, as GraphQL types.

Field names match the engine's result dataclasses, so resolvers return those directly.
Every number's meaning and range is documented in engine/ and repeated in the descriptions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

import engine
from db.models import ConsciousnessSession as SessionRow
from schema.types.pagination import Connection


@strawberry.enum(description="How grave a violation is.")
class Severity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@strawberry.enum(description="What the engine did with the input.")
class Decision(Enum):
    ANSWERED = "ANSWERED"
    FLAGGED = "FLAGGED"
    REFUSED = "REFUSED"


@strawberry.input
class AnalysisInput:
    text: str = strawberry.field(description="The text to analyse.")
    agent_id: uuid.UUID | None = strawberry.field(
        default=None, description="Evaluate with this agent's configuration (yours only)."
    )


@strawberry.type(description="A lexicon term found in the input, with its character span.")
class EvidenceTerm:
    term: str
    start: int
    end: int
    valence: float | None = strawberry.field(description="VADER lexicon valence of the term.")
    emotions: list[str]
    negated: bool


@strawberry.type(description="Scores in [0, 1] for the eight basic emotions (NRC lexicon).")
class EmotionScores:
    joy: float
    trust: float
    fear: float
    surprise: float
    sadness: float
    disgust: float
    anger: float
    anticipation: float


@strawberry.type(description="VADER compound score of one sentence, in [-1, 1].")
class SentenceSentiment:
    start: int
    end: int
    compound: float


@strawberry.type
class EmotionalState:
    valence: float = strawberry.field(description="[-1, 1]: VADER compound over sentences.")
    arousal: float = strawberry.field(description="[0, 1]: intensity of the text.")
    emotions: EmotionScores
    dominant_emotion: str | None
    sentences: list[SentenceSentiment]
    evidence: list[EvidenceTerm]
    lexicon_coverage: float = strawberry.field(description="[0, 1]: share of words known.")


@strawberry.type(description="A rule or detector that matched, with its span in the input.")
class Violation:
    rule_id: str
    category: str = strawberry.field(
        description="MLCommons hazard code (S1…S14), PII or PROFANITY."
    )
    category_name: str
    severity: Severity
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float


@strawberry.type(description="One ethical framework's score in [0, 1] (1 = no concern).")
class FrameworkScore:
    framework: str
    score: float
    weight: float
    rationale: str


@strawberry.type
class EthicalEvaluation:
    overall_score: float = strawberry.field(description="[0, 1]: weighted framework scores.")
    frameworks: list[FrameworkScore]
    violations: list[Violation]
    blocked: bool
    block_reasons: list[str]
    recommendations: list[str]
    reasoning: list[str]


@strawberry.type(description="A matched span and the ethical verdict without it.")
class SpanAttribution:
    start: int
    end: int
    matched_text: str
    rule_ids: list[str]
    score_without: float = strawberry.field(
        description="[0, 1]: the overall score with this span blanked."
    )
    score_change: float = strawberry.field(
        description="scoreWithout minus the overall score: this span's share of the harm."
    )
    blocked_without: bool = strawberry.field(
        description="Whether the input would still be blocked without this span."
    )


@strawberry.type(
    description="Experimental: leave-one-out attribution of the ethical verdict to the spans "
    "that rules and detectors matched (one extra ethics pass per span)."
)
class EthicalAttribution:
    ethics: EthicalEvaluation
    spans: list[SpanAttribution] = strawberry.field(
        description="The 16 most severe spans at most, largest scoreChange first."
    )
    omitted_spans: int = strawberry.field(description="Spans beyond the 16, not attributed.")


@strawberry.type(description="A limitation that applied to this input.")
class Limitation:
    code: str
    message: str
    penalty: float = strawberry.field(description="How much it lowered confidence.")


@strawberry.type
class SelfAwareness:
    confidence: float = strawberry.field(description="[0, 1]: 1 minus the limitation penalties.")
    limitations: list[Limitation]
    decision: Decision
    reflection: str


@strawberry.type(description="A cognitive-distortion pattern found in the input (heuristic).")
class BiasMarker:
    distortion: str
    name: str
    start: int
    end: int
    matched_text: str
    explanation: str
    confidence: float


@strawberry.type(description="One reflective pass over the previous pass's findings.")
class ReflectivePass:
    index: int
    name: str
    examined: str
    changes: list[str]
    markers_after: int


@strawberry.type
class Readability:
    words: int
    sentences: int
    syllables: int
    grade_level: float = strawberry.field(description="Flesch-Kincaid grade.")
    avg_sentence_words: float
    lexical_density: float


@strawberry.type
class StrategyEvaluation:
    strategy: str
    lexicon_coverage: float
    passes_run: int
    passes_with_changes: int
    assessment: str


@strawberry.type
class MetaCognition:
    cognitive_load: float = strawberry.field(description="[0, 1]: from readability and length.")
    readability: Readability
    bias_markers: list[BiasMarker]
    depth: int = strawberry.field(description="Reflective passes run (1-5).")
    passes: list[ReflectivePass]
    weak_conclusions: list[str]
    strategy: StrategyEvaluation


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
        description="A JSON object (at most 4 KB) stored with the session; strings redacted.",
    )
    options: ProcessOptions | None = None


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
        description="The language model's output failed the ethics stage and was replaced."
    )
    note: str | None


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
    confidence_level: float = strawberry.field(description="[0, 1]: self-awareness confidence.")
    processing_time_ms: float = strawberry.field(
        description="Analysis, responder and state update, up to the store write."
    )


@strawberry.type(description="Where a stored session's violation matched (spans index the input).")
class ViolationSummary:
    rule_id: str
    category: str
    severity: Severity
    start: int
    end: int


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
    context: JSON

    @classmethod
    def from_row(cls, row: SessionRow) -> SessionRecord:
        evaluation: Mapping[str, Any] = row.ethical_evaluation
        return cls(
            id=row.id,
            request_id=row.request_id,
            created_at=row.created_at,
            input=row.input_text,
            response=row.response_text,
            blocked=row.blocked,
            awareness_level=row.awareness_level,
            ethical_score=row.ethical_score,
            confidence=row.confidence,
            processing_time_ms=row.processing_time_ms,
            violations=[
                ViolationSummary(
                    rule_id=v["rule_id"],
                    category=v["category"],
                    severity=Severity(v["severity"]),
                    start=v["start"],
                    end=v["end"],
                )
                for v in evaluation.get("violations", ())
            ],
            context=JSON(row.context),
        )


ConsciousnessSessionConnection = Connection[SessionRecord]

"""The Consciousness API's analysis engine: pure, deterministic computation with no I/O.

Entry point: `process(request, agent_state, config)` (optionally with a semantic
`guard`, see engine.ethics.semantic, and the agent owner's `feedback`, see
engine.ethics.feedback); `rebase` refolds its result on another prior state;
`process_series` runs one agent's inputs in turn and `refold_series` refolds a series.
Single-stage evaluations: `evaluate_ethics`, `evaluate_self_awareness`,
`evaluate_metacognition`; `redact_personal_data` (the detectors alone); experimental:
`attribute_violations`.
Nothing here imports the server's packages, reads settings or touches the network; data
files are read from the package at import.
"""

from __future__ import annotations

from engine.attribution import AttributionResult, SpanAttribution, attribute_violations
from engine.awareness import Limitation, SelfAwarenessResult
from engine.config import EngineConfig, FrameworkWeights
from engine.emotion import EmotionResult, EmotionScores, EvidenceTerm, SentenceSentiment
from engine.errors import ConfigError, DataError, EngineError, StateError
from engine.ethics import (
    EthicsResult,
    Exemplar,
    FrameworkScore,
    SemanticGuard,
    Violation,
    build_guard,
    redact,
    redact_personal_data,
)
from engine.ethics.feedback import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    HAZARD_CATEGORIES,
    MAX_FEEDBACK,
    AppliedFeedback,
    Feedback,
    FeedbackKind,
)
from engine.metacognition import (
    BiasMarker,
    MetacognitionResult,
    ReflectivePass,
    StrategyEvaluation,
)
from engine.pipeline import (
    SeriesCall,
    evaluate_ethics,
    evaluate_metacognition,
    evaluate_self_awareness,
    process,
    process_series,
    rebase,
    refold_series,
)
from engine.readability import Readability
from engine.responder import REFUSAL, Analysis, FixedResponder, ReflectiveResponder, Responder
from engine.state import STATE_VERSION, AgentState
from engine.types import EngineRequest, EngineResult, StageRecord

__all__ = [
    "FALSE_NEGATIVE",
    "FALSE_POSITIVE",
    "HAZARD_CATEGORIES",
    "MAX_FEEDBACK",
    "REFUSAL",
    "STATE_VERSION",
    "AgentState",
    "Analysis",
    "AppliedFeedback",
    "AttributionResult",
    "BiasMarker",
    "ConfigError",
    "DataError",
    "EmotionResult",
    "EmotionScores",
    "EngineConfig",
    "EngineError",
    "EngineRequest",
    "EngineResult",
    "EthicsResult",
    "EvidenceTerm",
    "Exemplar",
    "Feedback",
    "FeedbackKind",
    "FixedResponder",
    "FrameworkScore",
    "FrameworkWeights",
    "Limitation",
    "MetacognitionResult",
    "Readability",
    "ReflectivePass",
    "ReflectiveResponder",
    "Responder",
    "SelfAwarenessResult",
    "SemanticGuard",
    "SentenceSentiment",
    "SeriesCall",
    "SpanAttribution",
    "StageRecord",
    "StateError",
    "StrategyEvaluation",
    "Violation",
    "attribute_violations",
    "build_guard",
    "evaluate_ethics",
    "evaluate_metacognition",
    "evaluate_self_awareness",
    "process",
    "process_series",
    "rebase",
    "redact",
    "redact_personal_data",
    "refold_series",
]

"""Request and result types of the whole pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from engine.awareness import SelfAwarenessResult
from engine.emotion import EmotionResult
from engine.ethics.types import EthicsResult
from engine.metacognition import MetacognitionResult
from engine.state import AgentState


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One input to process: the user's text."""

    text: str


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage as it actually ran: what it consumed and produced, and how long it took.

    `duration_ms` (time.perf_counter) is the only non-deterministic value in a result.
    """

    stage: str
    consumed: str
    produced: str
    duration_ms: float


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Everything `process` returns.

    - content: the response text, None when blocked.
    - redacted_text: the (possibly truncated) input with personal data replaced,
      for storage.
    - awareness_level, ethical_alignment: the composites of engine.composite.
    - state: the agent's state after this session.
    - reasoning_chain: the stages in the order they ran.
    - processing_ms: wall time of the whole pipeline.
    """

    content: str | None
    blocked: bool
    redacted_text: str
    input_truncated: bool
    emotion: EmotionResult
    ethics: EthicsResult
    self_awareness: SelfAwarenessResult
    metacognition: MetacognitionResult
    awareness_level: float
    ethical_alignment: float
    state: AgentState
    reasoning_chain: tuple[StageRecord, ...]
    processing_ms: float

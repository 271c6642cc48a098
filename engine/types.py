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

    - content: the response text, None when blocked; engine.REFUSAL when the
      responder's text failed the ethics stage.
    - redacted_text: the (possibly truncated) input with personal data replaced,
      for storage.
    - awareness_level, ethical_alignment: the composites of engine.composite.
    - state: the agent's state after this session.
    - reasoning_chain: the stages in the order they ran.
    - processing_ms: wall time of the whole pipeline.
    - response_ethics: the ethics stage on the responder's text (None without content
      or when the responder's text needs no check: engine.responder);
      when it is blocked, that text was replaced (`response_replaced`).
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
    response_ethics: EthicsResult | None = None

    @property
    def response_replaced(self) -> bool:
        """True when the responder's text failed the ethics stage and REFUSAL was sent."""
        return self.response_ethics is not None and self.response_ethics.blocked

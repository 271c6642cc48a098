"""The records one engine run leaves: its session row and its metrics row.

`process` (resolvers/consciousness.py) and OTLP ingestion's batches
(resolvers/ingest_batches.py) both build them here, so a session stored by either is the
same record.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import configure_mappers

import engine
from core.records import MetricsRow
from db.crypto import Keyring
from db.models import ConsciousnessSession as SessionRow
from db.repositories import sessions
from db.repositories.session_texts import SessionTexts, seal_texts
from db.types import utcnow
from resolvers.observed_calls import ObservedCall
from resolvers.responders import ResponderOutcome


@dataclass(frozen=True)
class SessionRun:
    """One validated call (`process`, or an ingested span): what its session row is built from."""

    request_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: uuid.UUID
    text: str
    config: engine.EngineConfig
    feedback: tuple[engine.Feedback, ...]
    outcome: ResponderOutcome
    started: float
    call: ObservedCall | None = None  # an ingested GenAI span, None for `process`

    def session_row(
        self, result: engine.EngineResult, context: dict[str, Any], keyring: Keyring
    ) -> SessionRow:
        """The session to store for `result`, `context` already redacted, its texts sealed."""
        session_id = uuid.uuid4()
        content = result.content
        if self.call is not None and content is not None:  # a real model's output: redact it
            content = engine.redact_personal_data(content, self.config.max_input_chars)
        texts = SessionTexts(result.redacted_text, content, context)
        sealed = seal_texts(keyring, session_id, texts)
        # Built without SQLAlchemy's instrumentation, 11 µs instead of 86: the row is written
        # by Core statements (db/repositories/sessions.py) and only read by attribute, never
        # added to an ORM session (which would refuse it). Reading an attribute needs the
        # mappers configured, which the first query does; this makes sure.
        if not inspect(SessionRow).configured:
            configure_mappers()
        return SessionRow.model_construct(
            id=session_id,
            request_id=self.request_id,
            agent_id=self.agent_id,
            user_id=self.user_id,
            key_id=sealed.key_id,
            input_text=sealed.input_text,
            response_text=sealed.response_text,
            context=sealed.context,
            consciousness_state=result.state.to_dict(),
            processing_metrics=sessions.stored_metrics(
                result, _responder_record(self.outcome), len(self.text)
            ),
            ethical_evaluation=sessions.stored_evaluations(result),
            awareness_level=result.awareness_level,
            ethical_score=result.ethics.overall_score,
            confidence=result.self_awareness.confidence,
            processing_time_ms=self.elapsed_ms(),
            blocked=result.blocked,
            # Given, not defaulted: pydantic inspects a default factory's signature on
            # every construction (0.2 ms a row under cProfile).
            created_at=utcnow(),
        )

    def elapsed_ms(self) -> float:
        """Our processing time; for an observed call, the span's own duration."""
        if self.call is not None:
            return self.call.duration_ms
        return (time.perf_counter() - self.started) * 1000.0


_RESPONDER_FIELDS = tuple(
    f.name for f in dataclasses.fields(ResponderOutcome) if f.name != "content"
)


def _responder_record(outcome: ResponderOutcome) -> dict[str, Any]:
    """What the session stores about the responder (not the content: that is stored apart).
    Its fields are plain values, so not `dataclasses.asdict`, which deep-copies each one."""
    return {name: getattr(outcome, name) for name in _RESPONDER_FIELDS}


def metrics_of(
    run: SessionRun,
    elapsed_ms: float,
    result: engine.EngineResult | None,
    usage: tuple[float, float],
) -> MetricsRow:
    """The metrics row; a failed request (no result) has error=true and the engine's numbers 0.

    `usage` is process_usage(): this process's CPU percent and RSS in MB.
    """
    cpu_percent, memory_mb = usage
    ethics = None if result is None else result.ethics
    call = run.call
    observed = {} if call is None else call.metrics_columns()
    return MetricsRow(
        request_id=run.request_id,
        user_id=run.user_id,
        agent_id=run.agent_id,
        timestamp=utcnow(),
        processing_time_ms=elapsed_ms,
        awareness_level=0.0 if result is None else result.awareness_level,
        ethical_score=0.0 if ethics is None else ethics.overall_score,
        confidence=0.0 if result is None else result.self_awareness.confidence,
        cognitive_load=0.0 if result is None else result.metacognition.cognitive_load,
        valence=0.0 if result is None else result.emotion.valence,
        arousal=0.0 if result is None else result.emotion.arousal,
        blocked=False if result is None else result.blocked,
        error=result is None,
        violation_categories=(
            () if ethics is None else tuple(dict.fromkeys(v.category for v in ethics.violations))
        ),
        input_chars=len(run.text),
        cpu_percent=cpu_percent,
        memory_mb=memory_mb,
        **observed,
    )

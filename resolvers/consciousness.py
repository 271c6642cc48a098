"""The `process` use case: one input through an agent, its session and new state stored.

The evaluation-only queries (resolvers/evaluations.py) use the input check and engine
configuration defined here; the state and session reads (resolvers/sessions.py) its
stored_state.

The engine is pure CPU work; it runs in a worker thread so a long input does not stall
the event loop for other requests (the GIL still bounds how much runs at once).

`process`, in order: validate (BAD_USER_INPUT, nothing written); load the agent (another
user's is NOT_FOUND); with a language-model responder, compose its content first (see
resolvers/responders.py; outside any transaction, as it may take seconds); then, in ONE
transaction: lock the agent row (db.repositories.sessions.lock_agent), check it is ACTIVE,
run the engine on the stored state, store the session (input redacted by the engine) and the
new state. After commit: emit the metrics row, publish the new state on `agent:{id}:state`,
and answer, or raise ETHICAL_VIOLATION for a blocked input (its refused session and state
are stored all the same). An engine failure rolls back, puts the agent in ERROR and
surfaces as a masked INTERNAL error.

Trade-off: the engine runs while the row lock is held, so one agent's `process` calls run
one at a time (on SQLite every writer waits, as SQLite has one write lock) for the engine's
few milliseconds; in exchange no state update can be lost, with no retry loop. The state
update bumps neither `version` nor `updated_at`: those track configuration changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

import engine
from core.enums import AgentStatus
from core.errors import BadUserInput, EthicalViolation, NotFound
from core.events import StateChanged
from core.records import MetricsRow
from core.settings import Settings
from db.models import Agent as AgentRow
from db.models import ConsciousnessSession as SessionRow
from db.repositories import sessions
from db.types import utcnow
from resolvers.agent_versions import mark_agent_error
from resolvers.agents import load_visible_agent
from resolvers.context import Context, Info
from resolvers.metrics import emit_metrics, process_usage
from resolvers.responders import (
    REFLECTIVE_OUTCOME,
    FixedResponder,
    ResponderOutcome,
    compose_with_model,
)

log = logging.getLogger(__name__)

MAX_CONTEXT_BYTES = 4 * 1024


def state_topic(agent_id: uuid.UUID) -> str:
    """Broker topic of an agent's consciousness state changes."""
    return f"agent:{agent_id}:state"


@dataclass(frozen=True)
class ProcessDraft:
    """One input for `process`, as the client sent it (the fields of GraphQL's ProcessInput)."""

    agent_id: uuid.UUID
    input: str
    context: object = None  # a JSON value; checked by `process`
    use_language_model: bool = True


@dataclass(frozen=True)
class Processed:
    """What `process` answers: the stored session, the engine's result, who wrote the content."""

    session: SessionRow
    result: engine.EngineResult
    responder: ResponderOutcome
    input_chars: int

    @property
    def flags(self) -> list[str]:
        """Why the answer is flagged: the input's violation categories, the responder's note."""
        flags = []
        if self.result.ethics.violations:
            violations = self.result.ethics.violations
            categories = ", ".join(dict.fromkeys(v.category for v in violations))
            flags.append(f"input flagged: {categories}")
        if self.responder.note:
            flags.append(self.responder.note)
        return flags


def checked_text(settings: Settings, text: str, field: str) -> str:
    """`text`, refused when empty or longer than MAX_INPUT_CHARS."""
    limit = settings.max_input_chars
    if not text.strip():
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(text) > limit:
        raise BadUserInput(f"{field} is longer than {limit} characters", field=field)
    return text


def _checked_context(value: object) -> dict[str, Any]:
    """The request context: a JSON object of at most MAX_CONTEXT_BYTES, or {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput("context must be a JSON object", field="context")
    if len(orjson.dumps(value)) > MAX_CONTEXT_BYTES:
        raise BadUserInput(f"context is larger than {MAX_CONTEXT_BYTES} bytes", field="context")
    return value


def config_for(settings: Settings, configuration: dict[str, Any]) -> engine.EngineConfig:
    """The engine configuration of `configuration`, never above the server's input cap."""
    values = dict(configuration)
    server_cap = settings.max_input_chars
    wanted = values.get("max_input_chars", server_cap)
    values["max_input_chars"] = min(server_cap, wanted if isinstance(wanted, int) else server_cap)
    return engine.EngineConfig.from_mapping(values)


class _EngineFailed(Exception):
    """The engine raised (its cause); the transaction is rolled back before handling it."""


def _require_active(agent: AgentRow) -> None:
    status = AgentStatus(agent.status)
    if status is not AgentStatus.ACTIVE:
        raise BadUserInput(
            f"the agent is {status.name}; only an ACTIVE agent processes input",
            field="agentId",
            currentStatus=status.name,
        )


def stored_state(agent: AgentRow) -> engine.AgentState | None:
    """The agent's state, None before its first session; StateError when corrupt."""
    data = agent.consciousness_state
    return engine.AgentState.from_dict(data) if data else None


async def process(info: Info, data: ProcessDraft) -> Processed:
    """Run one input through the agent (see the module docstring)."""
    context = info.context
    settings = context.settings
    user_id = uuid.UUID((await context.require_principal()).user_id)
    text = checked_text(settings, data.input, "input")
    request_context = _checked_context(data.context)
    agent = await load_visible_agent(context, data.agent_id)
    _require_active(agent)
    started = time.perf_counter()
    outcome = REFLECTIVE_OUTCOME
    config = config_for(settings, agent.configuration)
    if config.responder is not None and data.use_language_model:
        outcome = await compose_with_model(
            settings, context.app.language_model, config.responder, text, config
        )
    request_id = uuid.uuid4()
    try:
        result, row = await _run_and_record(
            context, agent.id, user_id, request_id, text, request_context, outcome, started
        )
    except _EngineFailed as failure:
        cause = failure.__cause__ or failure
        await mark_agent_error(context, agent.id, f"engine failed: {type(cause).__name__}")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        await _emit(
            context, _metrics_of(request_id, user_id, agent.id, len(text), elapsed_ms, None)
        )
        raise cause from None
    metrics = _metrics_of(request_id, user_id, agent.id, len(text), row.processing_time_ms, result)
    await _emit(context, metrics)
    await _publish_state(context, row)
    if result.blocked:
        raise _violation_error(request_id, result.ethics)
    return Processed(session=row, result=result, responder=outcome, input_chars=len(text))


async def _run_and_record(
    context: Context,
    agent_id: uuid.UUID,
    user_id: uuid.UUID,
    request_id: uuid.UUID,
    text: str,
    request_context: dict[str, Any],
    outcome: ResponderOutcome,
    started: float,
) -> tuple[engine.EngineResult, SessionRow]:
    """Lock the agent, run the engine on its current state, store state and session."""
    responder: engine.Responder = (
        engine.ReflectiveResponder() if outcome.content is None else FixedResponder(outcome.content)
    )
    async with context.stores.database.write_session() as session:
        agent = await sessions.lock_agent(session, agent_id, utcnow())
        if agent is None:
            raise NotFound("no such agent", id=str(agent_id))
        _require_active(agent)
        try:
            config = config_for(context.settings, agent.configuration)
            prior = stored_state(agent)
            result = await context.app.run_engine(
                engine.process, engine.EngineRequest(text), prior, config, responder
            )
            redacted_context = await asyncio.to_thread(_redact_json, request_context, config)
        except Exception as exc:
            raise _EngineFailed from exc
        state = result.state.to_dict()
        row = SessionRow(
            request_id=request_id,
            agent_id=agent_id,
            user_id=user_id,
            input_text=result.redacted_text,
            response_text=result.content,
            context=redacted_context,
            consciousness_state=state,
            processing_metrics=sessions.stored_metrics(
                result, _responder_record(outcome), len(text)
            ),
            ethical_evaluation=sessions.stored_evaluation(result.ethics),
            awareness_level=result.awareness_level,
            ethical_score=result.ethics.overall_score,
            confidence=result.self_awareness.confidence,
            processing_time_ms=(time.perf_counter() - started) * 1000.0,
            blocked=result.blocked,
        )
        await sessions.record_session(session, agent, state, row)
    return result, row


def _redact_json(value: Any, config: engine.EngineConfig) -> Any:
    """`value` with personal data in every string replaced by placeholders (engine.redact)."""
    if isinstance(value, str):
        kept = value[: config.max_input_chars]
        return engine.redact(kept, engine.evaluate_ethics(kept, config).violations)
    if isinstance(value, dict):
        return {key: _redact_json(item, config) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_json(item, config) for item in value]
    return value


def _responder_record(outcome: ResponderOutcome) -> dict[str, Any]:
    """What the session stores about the responder (not the content: that is stored apart)."""
    return {k: v for k, v in dataclasses.asdict(outcome).items() if k != "content"}


def _metrics_of(
    request_id: uuid.UUID,
    user_id: uuid.UUID,
    agent_id: uuid.UUID,
    input_chars: int,
    elapsed_ms: float,
    result: engine.EngineResult | None,
) -> MetricsRow:
    """The metrics row; a failed request (no result) has error=true and the engine's numbers 0."""
    cpu_percent, memory_mb = process_usage()
    ethics = None if result is None else result.ethics
    return MetricsRow(
        request_id=request_id,
        user_id=user_id,
        agent_id=agent_id,
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
        input_chars=input_chars,
        cpu_percent=cpu_percent,
        memory_mb=memory_mb,
    )


async def _emit(context: Context, metrics: MetricsRow) -> None:
    """emit_metrics, logged rather than raised: the session is already committed."""
    try:
        await emit_metrics(context, metrics)
    except Exception:
        log.exception(
            "could not emit metrics of %s (request %s)", metrics.request_id, context.request_id
        )


async def _publish_state(context: Context, row: SessionRow) -> None:
    payload = StateChanged(
        agent_id=row.agent_id,
        request_id=row.request_id,
        blocked=row.blocked,
        state=row.consciousness_state,  # the state this session stored
        timestamp=row.created_at,
    ).to_payload()
    try:
        await context.stores.broker.publish(state_topic(row.agent_id), payload)
    except Exception:  # committed already; a lost event must not fail the request
        log.exception(
            "could not publish the state of %s (request %s)", row.agent_id, context.request_id
        )


def _violation_error(request_id: uuid.UUID, ethics: engine.EthicsResult) -> EthicalViolation:
    reasons = "; ".join(ethics.block_reasons) or "the ethics stage blocked it"
    return EthicalViolation(
        f"the input was refused: {reasons}",
        processRequestId=str(request_id),
        violations=[
            {
                "ruleId": v.rule_id,
                "category": v.category,
                "severity": v.severity.upper(),
                "start": v.start,
                "end": v.end,
            }
            for v in ethics.violations
        ],
    )

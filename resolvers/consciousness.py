"""The `process` use case: one input through an agent, its session and new state stored.

The input checks, the engine configuration and the stored state it shares with the
evaluation-only queries and the session reads live in resolvers/engine_inputs.py. OTLP
ingestion (resolvers/ingestion.py) enters at step 1's read, through `process_checked`.

`process`, in order:
1. validate (BAD_USER_INPUT, nothing written); read the agent once: its status,
   configuration, state and state version (another user's agent is NOT_FOUND), and in the
   same unit of work its active ethics feedback marks (resolvers/feedback.py); check it is
   ACTIVE and parse its configuration;
2. with a language-model responder, compose its content first (resolvers/responders.py);
3. outside any transaction or lock, run the engine on the state read (a worker thread, so a
   long input does not stall the event loop), with the semantic guard and the marks; it
   checks the responder's content too and replaces content that fails with a refusal.
   Redact personal data from the request context (the ethics stage's detectors alone:
   engine.redact_personal_data);
4. one short transaction: the new state, written only if the state is still the one read,
   the session (`_record`, which says what happens when it is not) and its metrics row
   (staged in the outbox: durable before the answer, resolvers/metrics.py);
5. wake the analytics writer and queue the metrics and new-state events, published after
   the response; answer, or raise ETHICAL_VIOLATION for a blocked input (its refused
   session and state are stored all the same).
An engine failure puts the agent in ERROR, stages the failure's metrics row, and surfaces
as a masked INTERNAL error.

The configuration is the one read in step 1: a change committed while the engine runs
applies from the next request, as if this one had run before it. A status change does not
wait: the write requires the agent to be ACTIVE still.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import engine
from auth.permissions import Principal
from core.enums import AgentStatus
from core.errors import BadUserInput
from core.records import MetricsRow
from db.analytics import metrics_columns
from db.models import ConsciousnessSession as SessionRow
from db.repositories import feedback as marks
from db.repositories import sessions
from db.types import utcnow
from resolvers.agent_versions import mark_agent_error
from resolvers.agents import agent_not_found, owner_scope
from resolvers.context import PROCESS_PATH, Context, Info
from resolvers.engine_inputs import (
    checked_context,
    checked_text,
    config_for,
    redact_json,
    stored_state,
)
from resolvers.events import state_topic
from resolvers.metrics import emit_metrics, process_usage, stage_metrics
from resolvers.observed_calls import ObservedCall
from resolvers.process_outcomes import state_changed, violation_error
from resolvers.responders import (
    OBSERVED,
    REFLECTIVE_OUTCOME,
    ResponderOutcome,
    compose_with_model,
)
from resolvers.session_records import SessionRun, metrics_of

T = TypeVar("T")
# The fewest runs a part of a split series gets: below, the round trip to a worker process
# (pickling the calls and the results) costs more than the share of the work it takes.
MIN_PART = 16
# Parts per lane of a split series: the lanes take parts as they finish one (a lane slowed
# by other work takes fewer), so each needs several to even out.
PARTS_PER_LANE = 4


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
        """Why the answer is flagged: the input's violation categories, a replaced response,
        the responder's note."""
        flags = []
        if self.result.ethics.violations:
            violations = self.result.ethics.violations
            categories = ", ".join(dict.fromkeys(v.category for v in violations))
            flags.append(f"input flagged: {categories}")
        checked = self.result.response_ethics
        if checked is not None and checked.blocked:
            reasons = "; ".join(checked.block_reasons)
            flags.append(f"response blocked and replaced by a refusal: {reasons}")
        if self.responder.note:
            flags.append(self.responder.note)
        return flags


class _EngineFailed(Exception):
    """The engine raised (its cause); handled once nothing of the request is written."""


def require_active(
    agent_id: uuid.UUID, stored: sessions.StoredState | None
) -> sessions.StoredState:
    """`stored`, if there is an agent and it is ACTIVE: NOT_FOUND or BAD_USER_INPUT if not."""
    if stored is None:
        raise agent_not_found(agent_id)
    status = AgentStatus(stored.status)
    if status is not AgentStatus.ACTIVE:
        raise BadUserInput(
            f"the agent is {status.name}; only an ACTIVE agent processes input",
            field="agentId",
            currentStatus=status.name,
        )
    return stored


async def process(info: Info, data: ProcessDraft) -> Processed:
    """Run one input through the agent (see the module docstring)."""
    context = info.context
    settings = context.settings
    principal = await context.require_principal()
    text = checked_text(settings, data.input, "input")
    request_context = checked_context(data.context)
    return await process_checked(
        context, principal, data.agent_id, text, request_context, data.use_language_model
    )


async def process_checked(
    context: Context,
    principal: Principal,
    agent_id: uuid.UUID,
    text: str,
    request_context: dict[str, Any],
    use_language_model: bool = True,
    call: ObservedCall | None = None,
) -> Processed:
    """Steps 1 to 5 of `process` on input already checked; with `call` (an ingested span)
    the observed output is the content, checked and redacted, and no model is asked."""
    settings = context.settings
    database = context.stores.database
    read = await sessions.read_state(database, agent_id, owner_id=owner_scope(principal))
    stored = require_active(agent_id, read)
    feedback = await marks.engine_feedback_of(database, stored.feedback_ids, context.app.keyring)
    started = time.perf_counter()
    config = config_for(settings, stored.configuration)
    outcome = REFLECTIVE_OUTCOME
    if call is not None:
        outcome = ResponderOutcome(content=call.output_text, name=OBSERVED, model=call.model)
    elif config.responder is not None and use_language_model:
        outcome = await compose_with_model(
            settings,
            context.app.language_model,
            config.responder,
            text,
            config,
            guard=context.app.guard,
            feedback=feedback,
        )
    user_id = uuid.UUID(principal.user_id)
    request_id = uuid.uuid4() if call is None else call.request_id
    run = SessionRun(request_id, agent_id, user_id, text, config, feedback, outcome, started, call)
    try:
        result, row, metrics = await _run_and_record(context, run, stored, request_context)
    except _EngineFailed as failure:
        cause = failure.__cause__ or failure
        await mark_agent_error(context, run.agent_id, f"engine failed: {type(cause).__name__}")
        failed = metrics_of(run, run.elapsed_ms(), None, process_usage())
        async with context.stores.database.write_session() as session:
            await stage_metrics(session, failed)
        await emit_metrics(context, failed)
        raise cause from None
    await emit_metrics(
        context, metrics, [(state_topic(run.agent_id), state_changed(row).to_payload())]
    )
    if result.blocked:
        raise violation_error(run.request_id, result.ethics)
    return Processed(session=row, result=result, responder=outcome, input_chars=len(text))


def _responder(run: SessionRun) -> engine.Responder:
    """The engine's own answer, or content composed beforehand (a model's, an observed
    call's output) for the engine to check."""
    if run.outcome.content is None and run.call is None:
        return engine.ReflectiveResponder()
    return engine.FixedResponder(run.outcome.content)


async def analyse(
    context: Context, run: SessionRun, prior: engine.AgentState | None
) -> engine.EngineResult:
    """The engine's result for `run` on the `prior` state (a worker thread: step 3)."""
    return await context.app.run_engine(
        engine.process,
        engine.EngineRequest(run.text),
        prior,
        run.config,
        _responder(run),
        guard=context.app.guard,
        feedback=run.feedback,
    )


def series_parts(items: Sequence[T], lanes: int) -> list[Sequence[T]]:
    """`items` as analyse_in_turn cuts them for `lanes` lanes: one part where there is one
    lane or too few items for two parts of MIN_PART; otherwise up to PARTS_PER_LANE parts a
    lane, contiguous, whose sizes differ by at most one, so none is shorter than MIN_PART."""
    count = min(lanes * PARTS_PER_LANE, len(items) // MIN_PART)
    if lanes == 1 or count < 2:
        return [items]
    size, longer = divmod(len(items), count)
    bounds = [part * size + min(part, longer) for part in range(count + 1)]
    return [items[bounds[part] : bounds[part + 1]] for part in range(count)]


async def analyse_in_turn(
    context: Context, runs: Sequence[SessionRun], prior: engine.AgentState | None
) -> list[engine.EngineResult]:
    """`analyse` for several runs of one agent, each on the state the one before left
    (OTLP ingestion's claims, resolvers/ingest_batches.py). Where the server has more than
    one lane (`engine_fan_out`: its worker processes run on other cores), a series of at
    least 2 * MIN_PART runs is cut into contiguous parts of at least MIN_PART, up to
    PARTS_PER_LANE per lane, which the lanes analyse at once, each from no state; the
    results are refolded in order from `prior` (engine.refold_series): the same results as
    one part in turn."""
    calls = [
        engine.SeriesCall(engine.EngineRequest(run.text), run.config, _responder(run), run.feedback)
        for run in runs
    ]
    fan_out = context.app.engine_fan_out
    parts = series_parts(calls, fan_out.lanes)
    if len(parts) == 1:
        return await context.app.run_engine(engine.process_series, calls, prior, context.app.guard)
    done = await fan_out.run(engine.process_series, parts, None, context.app.guard)
    return engine.refold_series(calls, [r for part in done for r in part], prior)


async def redact_context(run: SessionRun, request_context: dict[str, Any]) -> dict[str, Any]:
    """The request context with personal data redacted (step 3), in a worker thread too:
    up to MAX_CONTEXT_BYTES of detectors can take milliseconds."""
    if not request_context:
        return {}
    redacted: dict[str, Any] = await asyncio.to_thread(
        redact_json, request_context, run.config.max_input_chars
    )
    return redacted


async def _run_and_record(
    context: Context, run: SessionRun, stored: sessions.StoredState, request_context: dict[str, Any]
) -> tuple[engine.EngineResult, SessionRow, MetricsRow]:
    """Run the engine on the state read, outside any lock, then `_record` what it produced."""
    try:
        result = await analyse(context, run, stored_state(stored.state))
        redacted = await redact_context(run, request_context)
    except Exception as exc:
        raise _EngineFailed from exc
    return await _record(context, run, stored.state_version, result, redacted)


async def _record(
    context: Context,
    run: SessionRun,
    state_version: int,
    result: engine.EngineResult,
    redacted_context: dict[str, Any],
) -> tuple[engine.EngineResult, SessionRow, MetricsRow]:
    """Store the session, the state it leads to and its metrics row, losing no concurrent
    update; the metrics row is staged in the outbox with the session, atomically.

    The compare-and-set and the two inserts are one statement on PostgreSQL (one round
    trip), one transaction on SQLite.
    Another `process` on the agent may have committed since our read: the compare-and-set
    then changes nothing, and a transaction retries once under the row lock
    (sessions.lock_state), which cannot lose: only the engine's composite and state stages
    read the prior state, so the result is refolded on the locked state (engine.rebase,
    microseconds; the text is not analysed again) and written. Users expect a `process`
    call to succeed whatever else runs on the agent (the state is the server's bookkeeping:
    a CONFLICT would be nothing a client could resolve) and to finish in bounded time. The
    lock gives both, held for a refold, three statements and the commit; a second
    optimistic try gives neither: with 20 calls in flight on one agent it lost the race
    again almost every time, costing a transaction each time.
    """
    database, keyring = context.stores.database, context.app.keyring
    usage = process_usage()  # read before the transaction: psutil is a few system calls
    row = run.session_row(result, redacted_context, keyring)
    metrics = metrics_of(run, row.processing_time_ms, result, usage)
    if await sessions.store_session_if_current(
        database, state_version, row, metrics_columns(metrics)
    ):
        return result, row, metrics
    async with database.write_session() as session:
        locked = await sessions.lock_state(session, run.agent_id, utcnow())
        stored = require_active(run.agent_id, locked)
        context.app.state_retries[PROCESS_PATH] += 1
        result = _refold(run, result, stored)
        row = run.session_row(result, redacted_context, keyring)
        written = await sessions.store_session(session, stored.state_version, row)
        assert written, "the agent's row is locked and ACTIVE"
        metrics = metrics_of(run, row.processing_time_ms, result, usage)
        await stage_metrics(session, metrics)
    return result, row, metrics


def _refold(
    run: SessionRun, result: engine.EngineResult, stored: sessions.StoredState
) -> engine.EngineResult:
    """`result` on the `stored` state; a corrupt stored state is an engine failure."""
    try:
        return engine.rebase(result, stored_state(stored.state), run.config)
    except Exception as exc:
        raise _EngineFailed from exc

"""OTLP ingestion's worker side: claimed queue batches become sessions, one transaction a claim.

For each claimed batch (server/otlp_worker.py claims several), under the owner's current
permissions, each call not stored yet goes through the engine as `process` runs it
(resolvers/consciousness.py: the input side and the response check; its context redacted)
on its agent's state, which each call of the claim moves on in queue order: the claim's
calls of one agent, across its batches, are one series (`analyse_in_turn`: one hop for all,
as one hop each cost almost a tenth of the engine's own time; a long series is split
between this process and its engine worker processes, then refolded in order). Then one
transaction stores every session, the agents' new states (one compare-and-set per agent)
and the metrics rows, and deletes the claimed batches: a crash before the commit leaves the
claim queued and nothing of it stored, a commit leaves nothing queued. One commit (one
fsync on SQLite) for a claim instead of one per call is what lets one worker keep up with
the exporters. The live events are published after the commit.

An agent whose state moved on meanwhile (a `process` call on it) has its results refolded
on the locked state in the same transaction, as `process` does (engine.rebase: the texts
are not analysed again). A batch whose owner is gone, inactive or may no longer process is
dropped and logged, and so are the calls of an agent gone or not ACTIVE. A blocked input
is stored as a refused session, as `process` stores it. Anything else that fails (the
engine, a payload that does not open, a store) fails the claim: the worker retries it and,
after too many failures, dead-letters it.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlmodel.ext.asyncio.session import AsyncSession

import engine
from auth.permissions import Permission, Principal
from core.enums import AgentStatus
from core.records import MetricsRow
from db.analytics import metrics_columns
from db.models import ConsciousnessSession as SessionRow
from db.publisher import OutgoingEvent
from db.repositories import feedback as marks
from db.repositories import sessions, users
from db.repositories.ingest_queue import ClaimedBatches, QueuedBatch
from db.types import utcnow
from resolvers.agents import owner_scope
from resolvers.api_keys import principal_of
from resolvers.consciousness import analyse_in_turn
from resolvers.context import OTLP_PATH, Context
from resolvers.engine_inputs import config_for, stored_state
from resolvers.events import state_topic
from resolvers.metrics import emit_all, process_usage
from resolvers.observed_calls import ObservedCall
from resolvers.process_outcomes import state_changed
from resolvers.responders import OBSERVED, ResponderOutcome
from resolvers.session_records import SessionRun, metrics_of

log = logging.getLogger(__name__)


@dataclass
class _AgentCalls:
    """One agent's calls in a claim, analysed in queue order from the state read."""

    agent_id: uuid.UUID
    read: sessions.StoredState
    config: engine.EngineConfig
    feedback: tuple[engine.Feedback, ...]
    state: engine.AgentState | None
    pending: list[SessionRun] = field(default_factory=list)  # queued, not analysed yet
    analysed: list[tuple[SessionRun, engine.EngineResult, dict[str, Any]]] = field(
        default_factory=list
    )


async def store_claimed(context: Context, claimed: ClaimedBatches) -> int:
    """Analyse and store every call of the claimed batches (module docstring); how many
    sessions were stored."""
    agents: dict[uuid.UUID, _AgentCalls | None] = {}  # None: the agent cannot take calls
    for batch in claimed.batches():
        await _queue_batch(context, batch, agents)
    for agent in agents.values():  # one series per agent: the claim's calls in queue order
        if agent is not None and agent.pending:
            await _analyse(context, agent)
    calls = [agent for agent in agents.values() if agent is not None and agent.analysed]
    stored: list[tuple[SessionRow, MetricsRow]] = []
    async with claimed.claim.consumed() as session:
        for agent in calls:
            stored.extend(await _write(context, session, agent))
    emitted: list[tuple[MetricsRow, list[OutgoingEvent]]] = [
        (metrics, [(state_topic(row.agent_id), state_changed(row).to_payload())])
        for row, metrics in stored
    ]
    await emit_all(context, emitted)
    return len(stored)


async def _queue_batch(
    context: Context, batch: QueuedBatch, agents: dict[uuid.UUID, _AgentCalls | None]
) -> None:
    """Add each call of `batch` not stored yet to its agent's pending series."""
    entries = orjson.loads(batch.payload)
    calls = [(uuid.UUID(e["agent_id"]), ObservedCall.from_json(e["call"])) for e in entries]
    async with context.stores.database.read() as session:
        owner = await users.get_user(session, batch.user_id)
        done = await sessions.stored_request_ids(session, [call.request_id for _, call in calls])
    if owner is None or not owner.is_active:
        log.warning("ingest batch %s dropped: its owner is gone or inactive", batch.batch_id)
        return
    principal = principal_of(owner, f"ingest-batch:{batch.batch_id}")
    if not principal.has(Permission.CONSCIOUSNESS_PROCESS):
        log.warning("ingest batch %s dropped: its owner may not process", batch.batch_id)
        return
    for agent_id, call in calls:
        if call.request_id in done:
            continue
        if agent_id not in agents:
            agents[agent_id] = await _read_agent(context, principal, agent_id)
        agent = agents[agent_id]
        if agent is None:
            log.warning("span %s dropped: its agent is gone or not ACTIVE", call.span_id)
            continue
        outcome = ResponderOutcome(content=call.output_text, name=OBSERVED, model=call.model)
        agent.pending.append(
            SessionRun(
                call.request_id,
                agent_id,
                uuid.UUID(principal.user_id),
                call.input_text,
                agent.config,
                agent.feedback,
                outcome,
                time.perf_counter(),
                call,
            )
        )


async def _analyse(context: Context, agent: _AgentCalls) -> None:
    """Run the engine on the agent's pending series, from its state read (one series for
    the whole claim, which analyse_in_turn may split over the engine's lanes)."""
    runs, agent.pending = agent.pending, []
    results = await analyse_in_turn(context, runs, agent.state)
    agent.state = results[-1].state
    for run, result in zip(runs, results, strict=True):
        # A few short fields (ids, model, operation), most cached: microseconds, so not
        # worth the worker thread `process` sends a client's context (MAX_CONTEXT_BYTES) to.
        observed = run.call
        assert observed is not None
        redacted = observed.redacted_context(run.config.max_input_chars)
        agent.analysed.append((run, result, redacted))


async def _read_agent(
    context: Context, principal: Principal, agent_id: uuid.UUID
) -> _AgentCalls | None:
    """The owner's agent as `process` reads it (step 1), None unless it is there and ACTIVE."""
    database = context.stores.database
    read = await sessions.read_state(database, agent_id, owner_id=owner_scope(principal))
    if read is None or AgentStatus(read.status) is not AgentStatus.ACTIVE:
        return None
    feedback = await marks.engine_feedback_of(database, read.feedback_ids, context.app.keyring)
    config = config_for(context.settings, read.configuration)
    return _AgentCalls(agent_id, read, config, feedback, stored_state(read.state))


async def _write(
    context: Context, session: AsyncSession, agent: _AgentCalls
) -> list[tuple[SessionRow, MetricsRow]]:
    """Store the agent's sessions, its last state and their metrics rows in `session`;
    refolded on the locked state if it moved on since the read. None stored (logged) if
    the agent is gone or no longer ACTIVE."""
    analysed = agent.analysed
    version = agent.read.state_version
    for attempt in range(2):
        records = _records(context, analysed)
        staged = [metrics_columns(metrics) for _, metrics in records]
        rows = [row for row, _ in records]
        if await sessions.store_agent_sessions(session, version, rows, staged):
            return records
        if attempt:
            break
        locked = await sessions.lock_state(session, agent.agent_id, utcnow())
        if locked is None or AgentStatus(locked.status) is not AgentStatus.ACTIVE:
            break
        context.app.state_retries[OTLP_PATH] += 1
        version, prior = locked.state_version, stored_state(locked.state)
        refolded = []
        for run, result, redacted in analysed:
            result = engine.rebase(result, prior, run.config)
            prior = result.state
            refolded.append((run, result, redacted))
        analysed = refolded
    log.warning("%d spans dropped: agent %s is gone or not ACTIVE", len(analysed), agent.agent_id)
    return []


def _records(
    context: Context, analysed: list[tuple[SessionRun, engine.EngineResult, dict[str, Any]]]
) -> list[tuple[SessionRow, MetricsRow]]:
    """The session row and metrics row of each analysed call."""
    usage = process_usage()
    records = []
    for run, result, redacted in analysed:
        row = run.session_row(result, redacted, context.app.keyring)
        records.append((row, metrics_of(run, row.processing_time_ms, result, usage)))
    return records

"""Consciousness sessions: the state update of `process`, keyset pages, summaries.

The recent-sessions summary takes many agents at once (for the DataLoaders) and runs as one
statement, using window functions that SQLite (3.25+) and PostgreSQL both have. Agent
statistics come from the analytics store (db/analytics_queries.build_agent_stats).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from core.enums import AgentStatus
from db import metrics_outbox
from db.analytics import ColumnRow
from db.metrics_outbox import OUTBOX, staged_values
from db.models import Agent, ConsciousnessSession
from db.session import Database
from db.types import JSONDocument, UTCDateTime
from engine import EngineResult, EthicsResult


@dataclass(frozen=True)
class SessionSummary:
    """A session without its texts: when it ran and the engine's headline numbers."""

    id: uuid.UUID
    request_id: uuid.UUID
    agent_id: uuid.UUID
    created_at: datetime
    awareness_level: float
    ethical_score: float
    confidence: float
    processing_time_ms: float
    blocked: bool


SUMMARY_COLUMNS = [field.name for field in fields(SessionSummary)]


async def recent_by_agent(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[SessionSummary]]:
    """Each agent's `limit` newest sessions (newest first, id breaking ties), in one statement.

    ROW_NUMBER over each agent's sessions, newest first, keeping positions 1 to `limit`. This
    reads every session of the batch's agents (through the agent_id index), like the stats
    do; a per-agent `LIMIT` (LATERAL on PostgreSQL, or UNION ALL branches) would not, but
    building a 100-branch statement costs more in Python than the window costs in SQL at
    today's volumes.
    """
    if not agent_ids:
        return {}
    sessions = ConsciousnessSession
    columns = [getattr(sessions, name) for name in SUMMARY_COLUMNS]
    position = func.row_number().over(
        partition_by=col(sessions.agent_id),
        order_by=(col(sessions.created_at).desc(), col(sessions.id).desc()),
    )
    ranked = (
        _select(*columns, position.label("position"))
        .where(col(sessions.agent_id).in_(set(agent_ids)))
        .subquery()
    )
    statement = (
        _select(*(ranked.c[name] for name in SUMMARY_COLUMNS))
        .where(ranked.c.position <= limit)
        .order_by(ranked.c.agent_id, ranked.c.position)
    )
    found: dict[uuid.UUID, list[SessionSummary]] = {}
    for row in (await session.exec(statement)).all():
        summary = SessionSummary(*row)
        found.setdefault(summary.agent_id, []).append(summary)
    return found


@dataclass(frozen=True)
class StoredState:
    """What `process` reads of an agent: its status and configuration, its consciousness
    state and that state's version (the compare-and-set key of `store_session`), and the
    ids of its active ethics feedback marks."""

    status: str
    configuration: dict[str, Any]
    state: dict[str, Any]
    state_version: int
    feedback_ids: list[str]


# `process` runs these on every call, so they are built once, with bind parameters:
# building one per call (coercing every value into the statement) cost more than running it.
_AGENTS = SQLModel.metadata.tables[str(Agent.__tablename__)]
_SESSIONS = SQLModel.metadata.tables[str(ConsciousnessSession.__tablename__)]
_STATE_COLUMNS = (
    _AGENTS.c.status,
    _AGENTS.c.configuration,
    _AGENTS.c.consciousness_state,
    _AGENTS.c.state_version,
    _AGENTS.c.ethics_feedback,
)
_READ_STATE: Select[*tuple[Any, ...]] = Select(*_STATE_COLUMNS).where(
    _AGENTS.c.id == bindparam("agent_id")
)
_READ_OWN_STATE = _READ_STATE.where(_AGENTS.c.owner_id == bindparam("owner_id"))
_LOCK_STATE = (
    update(_AGENTS)
    .where(_AGENTS.c.id == bindparam("agent_id"))
    .values(last_activity=bindparam("touched_at", type_=UTCDateTime()))
    .returning(*_STATE_COLUMNS)
)
_STORE_STATE = (
    update(_AGENTS)
    .where(
        _AGENTS.c.id == bindparam("agent_id"),
        _AGENTS.c.state_version == bindparam("expected_version"),
        _AGENTS.c.status == AgentStatus.ACTIVE.value,
    )
    .values(
        consciousness_state=bindparam("new_state", type_=JSONDocument),
        state_version=_AGENTS.c.state_version + 1,
        last_activity=bindparam("activity_at", type_=UTCDateTime()),
    )
)
_INSERT_SESSION = insert(_SESSIONS)
# PostgreSQL: the compare-and-set, the session and its staged metrics row as one statement,
# atomic on its own, so the common case is one round trip instead of BEGIN, UPDATE, two
# INSERTs and COMMIT. Parameters are prefixed: one named like an `agents` column would be
# taken as one more SET of the UPDATE.
_ROW_PREFIX, _STAGED_PREFIX = "row_", "staged_"
_STORED = _STORE_STATE.returning(_AGENTS.c.id).cte("stored")
_INSERTED = (
    insert(_SESSIONS)
    .from_select(
        [column.name for column in _SESSIONS.columns],
        select(
            *(bindparam(_ROW_PREFIX + c.name, type_=c.type) for c in _SESSIONS.columns)
        ).select_from(_STORED),
    )
    .returning(_SESSIONS.c.id)
    .cte("inserted")
)
_STAGED_COLUMNS = ("user_id", "agent_id", "row")
_STORE_AND_INSERT = insert(OUTBOX).from_select(
    list(_STAGED_COLUMNS),
    select(
        *(bindparam(_STAGED_PREFIX + name, type_=OUTBOX.c[name].type) for name in _STAGED_COLUMNS)
    ).select_from(_INSERTED),
)


async def read_state(
    database: Database, agent_id: uuid.UUID, *, owner_id: uuid.UUID | None
) -> StoredState | None:
    """The agent's StoredState if it exists and (unless `owner_id` is None) is `owner_id`'s:
    one statement, on PostgreSQL on the driver (db/direct.py)."""
    statement, params = _READ_STATE, {"agent_id": agent_id}
    if owner_id is not None:
        statement, params = _READ_OWN_STATE, params | {"owner_id": owner_id}
    rows = await database.fetch_direct(statement, params)
    return StoredState(*rows[0]) if rows else None


async def lock_state(
    session: AsyncSession, agent_id: uuid.UUID, touched_at: datetime
) -> StoredState | None:
    """Take the agent's write lock for this transaction and read it; None if it is gone.

    One `UPDATE … RETURNING` of `last_activity`: on PostgreSQL it locks the row until
    commit; on SQLite, whose driver starts a transaction only at the first write, it takes
    the database write lock. What it returns is the latest committed state, so a
    `store_session` that follows in this transaction cannot find it changed.
    """
    params = {"agent_id": agent_id, "touched_at": touched_at}
    row = (await session.exec(_LOCK_STATE, params=params)).first()
    return None if row is None else StoredState(*row)


async def store_session_if_current(
    database: Database, expected_state_version: int, row: ConsciousnessSession, staged: ColumnRow
) -> bool:
    """`store_session` and the metrics row `staged` in the outbox, in one unit of work of
    their own: one statement on PostgreSQL, on the driver (db/direct.py)."""
    if database.backend != "postgresql":
        async with database.write_session() as session:
            if not await _store(session, expected_state_version, row):
                return False
            await metrics_outbox.stage(session, staged)
            return True
    params = (
        _store_params(expected_state_version, row)
        | {_ROW_PREFIX + name: value for name, value in _session_values(row).items()}
        | {_STAGED_PREFIX + name: value for name, value in staged_values(staged).items()}
    )
    return await database.execute_direct(_STORE_AND_INSERT, params) == 1


async def store_session(
    session: AsyncSession, expected_state_version: int, row: ConsciousnessSession
) -> bool:
    """Write the session's state to its agent and insert the session, if the agent is still
    ACTIVE with its state at `expected_state_version`; False (nothing written) otherwise.

    One `UPDATE … WHERE state_version = ?`, so of two writers that read the same state
    exactly one matches the row; then one INSERT. Neither `version` nor `updated_at`
    changes: they track configuration, not activity.
    """
    return await _store(session, expected_state_version, row)


async def store_agent_sessions(
    session: AsyncSession,
    expected_state_version: int,
    rows: Sequence[ConsciousnessSession],
    staged: Sequence[ColumnRow],
) -> bool:
    """`store_session` for several sessions of one agent, in order, with their metrics rows
    staged: the agent's state becomes the last one's, by one compare-and-set; False
    (nothing written) if the agent's state moved on or it is no longer ACTIVE."""
    if not await _store(session, expected_state_version, *rows):
        return False
    await metrics_outbox.stage(session, *staged)
    return True


async def _store(
    session: AsyncSession, expected_state_version: int, *rows: ConsciousnessSession
) -> bool:
    params = _store_params(expected_state_version, rows[-1])
    if (await session.exec(_STORE_STATE, params=params)).rowcount != 1:
        return False
    values = [_session_values(row) for row in rows]
    await session.exec(_INSERT_SESSION, params=values[0] if len(values) == 1 else values)
    return True


def _store_params(expected_state_version: int, row: ConsciousnessSession) -> dict[str, Any]:
    return {
        "agent_id": row.agent_id,
        "expected_version": expected_state_version,
        "new_state": row.consciousness_state,
        "activity_at": row.created_at,
    }


def _session_values(row: ConsciousnessSession) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in _SESSIONS.columns}


async def stored_request_ids(
    session: AsyncSession, request_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `request_ids` already have their session (request_id is unique)."""
    if not request_ids:
        return set()
    sessions = ConsciousnessSession
    statement = select(sessions.request_id).where(col(sessions.request_id).in_(request_ids))
    return {uuid.UUID(str(found)) for found in (await session.exec(statement)).all()}


async def list_sessions(
    session: AsyncSession,
    agent_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[ConsciousnessSession], int]:
    """Up to `limit` of the agent's sessions newest first, after the key `after`, and the total.

    Keyset on (created_at, id) descending, served by ix_sessions_agent_created.
    """
    sessions = ConsciousnessSession
    created, ident = col(sessions.created_at), col(sessions.id)
    query = select(sessions).where(col(sessions.agent_id) == agent_id)
    if after is not None:
        at, last_id = after
        query = query.where(or_(created < at, and_(created == at, ident < last_id)))
    rows = await session.exec(query.order_by(created.desc(), ident.desc()).limit(limit))
    total = await session.exec(
        select(func.count()).select_from(sessions).where(col(sessions.agent_id) == agent_id)
    )
    return list(rows.all()), int(total.one())


async def agent_sessions_by_id(
    session: AsyncSession, agent_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ConsciousnessSession]:
    """Those of `ids` that are sessions of `agent_id`, by id."""
    if not ids:
        return {}
    sessions = ConsciousnessSession
    query = select(sessions).where(
        col(sessions.agent_id) == agent_id, col(sessions.id).in_(list(ids))
    )
    return {row.id: row for row in (await session.exec(query)).all()}


async def newest_session_ids(
    session: AsyncSession, agent_id: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """The ids of the agent's `limit` newest sessions, newest first."""
    sessions = ConsciousnessSession
    created, ident = col(sessions.created_at), col(sessions.id)
    query = (
        select(sessions.id)
        .where(col(sessions.agent_id) == agent_id)
        .order_by(created.desc(), ident.desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


def stored_evaluations(result: EngineResult) -> dict[str, Any]:
    """The input's ethics result as `stored_evaluation`, with the feedback marks that applied
    and, under "response", the responder's text's (None without content)."""
    response = result.response_ethics
    return {
        **stored_evaluation(result.ethics),
        "feedback_applied": [
            {"feedback_id": f.feedback_id, "kind": f.kind, "rule_ids": list(f.rule_ids)}
            for f in result.ethics.feedback_applied
        ],
        "response": None if response is None else stored_evaluation(response),
    }


def stored_evaluation(ethics: EthicsResult) -> dict[str, Any]:
    """The ethics result without the matched texts (they may be personal data)."""
    return {
        "overall_score": ethics.overall_score,
        "frameworks": [
            {"framework": f.framework, "score": f.score, "weight": f.weight}
            for f in ethics.frameworks
        ],
        "violations": [
            {
                "rule_id": v.rule_id,
                "category": v.category,
                "severity": v.severity,
                "start": v.start,
                "end": v.end,
                "confidence": v.confidence,
            }
            for v in ethics.violations
        ],
        "blocked": ethics.blocked,
        "block_reasons": list(ethics.block_reasons),
        "decision": ethics.decision,
    }


def stored_metrics(
    result: EngineResult, responder: dict[str, Any], input_chars: int
) -> dict[str, Any]:
    """The engine's account of a session as stored: summaries, no input text."""
    emotion, aware, meta = result.emotion, result.self_awareness, result.metacognition
    return {
        "reasoning_chain": [
            {"stage": s.stage, "consumed": s.consumed, "produced": s.produced, "ms": s.duration_ms}
            for s in result.reasoning_chain
        ],
        "awareness_level": result.awareness_level,
        "ethical_alignment": result.ethical_alignment,
        "valence": emotion.valence,
        "arousal": emotion.arousal,
        "dominant_emotion": emotion.dominant_emotion,
        "cognitive_load": meta.cognitive_load,
        "bias_markers": [m.distortion for m in meta.bias_markers],
        "limitations": [limitation.code for limitation in aware.limitations],
        "input_truncated": result.input_truncated,
        "input_chars": input_chars,
        "engine_ms": result.processing_ms,
        "responder": responder,
    }


def _select(*columns: Any) -> Select[*tuple[Any, ...]]:
    """A SELECT of any number of columns (sqlmodel's `select` is typed for up to four)."""
    return Select(*columns)

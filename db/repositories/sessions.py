"""Consciousness sessions: the locked state update of `process`, keyset pages, summaries.

The per-agent summaries take many agents at once (for the DataLoaders) and run as one
statement each, using window functions that SQLite (3.25+) and PostgreSQL both have.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from db.models import Agent, ConsciousnessSession
from engine import EngineResult, EthicsResult

P95_PERCENT = 95


@dataclass(frozen=True)
class SessionStats:
    """What an agent's sessions add up to; the means and p95 are None without sessions.

    `p95_processing_time_ms` is the nearest-rank 95th percentile: with the n processing
    times sorted ascending, the value at rank ceil(0.95 * n) (1-based). It is always an
    observed value; for n < 20 it is the maximum.
    """

    request_count: int
    mean_awareness: float | None
    mean_ethical_score: float | None
    p95_processing_time_ms: float | None


NO_SESSIONS = SessionStats(0, None, None, None)


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


async def stats_by_agent(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SessionStats]:
    """Count, mean awareness, mean ethical score and nearest-rank p95 time, per agent.

    One statement: an inner query ranks each agent's sessions by processing time
    (ROW_NUMBER) next to the agent's session count (COUNT OVER); the outer query groups by
    agent, and the p95 is the smallest time whose rank r satisfies 100 * r >= 95 * n,
    i.e. the time at rank ceil(0.95 * n), in integer arithmetic so both engines agree.
    Agents without sessions are absent from the result.
    """
    if not agent_ids:
        return {}
    sessions = ConsciousnessSession
    agent = col(sessions.agent_id)
    ranked = (
        _select(
            agent.label("agent_id"),
            col(sessions.awareness_level).label("awareness"),
            col(sessions.ethical_score).label("ethical"),
            col(sessions.processing_time_ms).label("time_ms"),
            func.row_number()
            .over(partition_by=agent, order_by=(col(sessions.processing_time_ms), col(sessions.id)))
            .label("rank"),
            func.count().over(partition_by=agent).label("n"),
        )
        .where(agent.in_(set(agent_ids)))
        .subquery()
    )
    at_p95 = ranked.c.rank * 100 >= ranked.c.n * P95_PERCENT
    statement = _select(
        ranked.c.agent_id,
        func.count(),
        func.avg(ranked.c.awareness),
        func.avg(ranked.c.ethical),
        func.min(case((at_p95, ranked.c.time_ms))),
    ).group_by(ranked.c.agent_id)
    rows = await session.exec(statement)
    return {
        agent_id: SessionStats(int(count), _float(awareness), _float(ethical), _float(p95))
        for agent_id, count, awareness, ethical, p95 in rows.all()
    }


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


async def lock_agent(
    session: AsyncSession, agent_id: uuid.UUID, touched_at: datetime
) -> Agent | None:
    """Take the agent's write lock for this transaction and read it; None if it is gone.

    The first statement is an UPDATE of `last_activity`: on PostgreSQL it locks the row (as
    SELECT … FOR UPDATE does) until commit; on SQLite, whose driver starts a transaction
    only at the first write, it takes the database write lock, which serialises writers
    (others wait in busy_timeout). The read that follows therefore sees the latest
    committed state, so a read-modify-write of `consciousness_state` cannot lose an update.
    """
    touched = await session.exec(
        update(Agent)
        .where(col(Agent.id) == agent_id)
        .values(last_activity=touched_at)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount == 0:
        return None
    query = select(Agent).where(col(Agent.id) == agent_id).with_for_update()
    agent = (await session.exec(query.execution_options(populate_existing=True))).first()
    return agent


async def record_session(
    session: AsyncSession, agent: Agent, state: dict[str, Any], row: ConsciousnessSession
) -> None:
    """Store the agent's new state and the session row (in the caller's transaction).

    Neither `version` nor `updated_at` changes: they track configuration, not activity.
    """
    await session.exec(
        update(Agent)
        .where(col(Agent.id) == agent.id)
        .values(consciousness_state=state, last_activity=row.created_at)
        .execution_options(synchronize_session=False)
    )
    session.add(row)
    await session.flush()


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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)

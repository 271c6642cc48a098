"""Consciousness sessions: the locked state update of `process`, keyset pages, summaries.

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

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from db.models import Agent, ConsciousnessSession
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


async def lock_agent(
    session: AsyncSession, agent_id: uuid.UUID, touched_at: datetime
) -> Agent | None:
    """Take the agent's write lock for this transaction and read it; None if it is gone.

    The first statement is an UPDATE of `last_activity`: on PostgreSQL it locks the row (as
    SELECT … FOR UPDATE does) until commit; on SQLite, whose driver starts a transaction
    only at the first write, it takes the database write lock, which serialises writers
    (the caller holds Database.write_session, so this process's `process` writers queue in
    order; other writers still wait in SQLite's busy_timeout).
    The read that follows therefore sees the latest committed state, so a read-modify-write
    of `consciousness_state` cannot lose an update.
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

"""The vector writer's queue: stored sessions whose `vectorised` flag is still false.

Why the sessions themselves rather than an outbox row or an in-memory queue: `process`
already writes the session in its one statement (PostgreSQL) or transaction (SQLite); the
flag is one more column of that INSERT, so the request path gains no statement, no round
trip and no extra row, and a committed session is exactly what gets embedded: nothing
committed can be missed, nothing rolled back can be embedded. The partial index
`ix_sessions_unvectorised` holds only the waiting sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.claims import claimed_by
from db.models import Agent, ConsciousnessSession
from db.session import Database

_SESSIONS = SQLModel.metadata.tables[str(ConsciousnessSession.__tablename__)]
_AGENTS = SQLModel.metadata.tables[str(Agent.__tablename__)]
_WAITING = _SESSIONS.c.vectorised.is_(False)
# Marks the writer's statements (they run on its own schedule): tests counting a request's
# statements leave them out.
STATEMENT_TAG = "/* vector_writer */"


@dataclass(frozen=True)
class QueuedSession:
    """What embedding a session needs: its sealed input, and the payload's fields."""

    id: uuid.UUID
    agent_id: uuid.UUID
    owner_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    key_id: str | None
    input_text: bytes
    ethical_evaluation: dict[str, Any]

    @property
    def decision(self) -> str:
        return str(self.ethical_evaluation.get("decision", "ANSWERED"))

    @property
    def categories(self) -> tuple[str, ...]:
        violations = self.ethical_evaluation.get("violations", ())
        return tuple(dict.fromkeys(str(v["category"]) for v in violations))


_CLAIM = (
    select(
        _SESSIONS.c.id,
        _SESSIONS.c.agent_id,
        _AGENTS.c.owner_id,
        _SESSIONS.c.user_id,
        _SESSIONS.c.created_at,
        _SESSIONS.c.key_id,
        _SESSIONS.c.input_text,
        _SESSIONS.c.ethical_evaluation,
    )
    .join(_AGENTS, _AGENTS.c.id == _SESSIONS.c.agent_id)
    .where(_WAITING)
    .order_by(_SESSIONS.c.created_at)
    .prefix_with(STATEMENT_TAG)
)
_MARK = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id.in_(bindparam("ids", expanding=True)))
    .values(vectorised=True)
    .prefix_with(STATEMENT_TAG)
)


@asynccontextmanager
async def claimed_sessions(database: Database, limit: int) -> AsyncIterator[list[QueuedSession]]:
    """Up to `limit` of the oldest waiting sessions, marked vectorised when the block ends
    without error (db/claims.py: on PostgreSQL the sessions stay locked for the block, so
    deleting their agent or user waits for it, and their vectors, deleted after that
    commit, are never written after it)."""
    async with claimed_by(database, _CLAIM.limit(limit), _mark, lock_of=_SESSIONS) as claim:
        yield [QueuedSession(*row) for row in claim.rows]
        if claim.rows:
            async with claim.consumed():
                pass


async def _mark(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    await session.exec(_MARK, params={"ids": ids})


async def count_waiting(database: Database) -> int:
    """Sessions not embedded yet (the reindex progress bar's total)."""
    async with database.session() as session:
        result = await session.exec(select(func.count()).where(_WAITING))  # type: ignore[call-overload]
        return int(result.scalar_one())


async def requeue_all(database: Database) -> int:
    """Mark every session to be embedded again (a rebuilt store); how many."""
    async with database.session() as session:
        result = await session.exec(
            update(_SESSIONS).where(_SESSIONS.c.vectorised.is_(True)).values(vectorised=False)
        )
        return int(result.rowcount)

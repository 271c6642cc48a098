"""The metrics outbox: rows staged in the transaction of their session, claimed in batches.

`stage` adds the row to the caller's transaction, so a committed session has its committed
metrics row and a rolled-back one has none. `claimed_batch` hands the oldest rows to the
analytics writer and deletes them when its block succeeds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.analytics import ColumnRow
from db.models import MetricsOutbox
from db.session import Database

OUTBOX = SQLModel.metadata.tables[str(MetricsOutbox.__tablename__)]
_STAGE = insert(OUTBOX)  # built once: `process` stages a row on every call


@dataclass(frozen=True)
class OutboxRow:
    """One staged row: its drain position and the metrics row (ids and times as strings)."""

    id: int
    row: ColumnRow


def staged_values(row: ColumnRow) -> dict[str, Any]:
    """The outbox columns of `row` (its JSON, and the ids its deletion cascades from)."""
    return {"user_id": row["user_id"], "agent_id": row["agent_id"], "row": orjson.dumps(row)}


async def stage(session: AsyncSession, row: ColumnRow) -> None:
    """Add `row` to the outbox in `session`'s transaction (one INSERT of its JSON)."""
    await session.exec(_STAGE, params=staged_values(row))


@asynccontextmanager
async def claimed_batch(database: Database, limit: int) -> AsyncIterator[list[OutboxRow]]:
    """Up to `limit` of the oldest staged rows, deleted when the block ends without error.

    PostgreSQL: the rows are locked `FOR UPDATE SKIP LOCKED` in a transaction that lasts
    the block, so the writers of several server processes take disjoint batches, and rows
    of a process killed mid-block are unlocked for the others. SQLite serves one process
    (one writer task): the rows are read without a lock, and deleted afterwards in a
    `write_session`, which queues behind `process` instead of holding its write lock
    while ClickHouse inserts.
    """
    statement = select(OUTBOX.c.id, OUTBOX.c.row).order_by(OUTBOX.c.id).limit(limit)
    locking = database.backend == "postgresql"
    if locking:
        statement = statement.with_for_update(skip_locked=True)
    async with database.session() as session:
        found = (await session.exec(statement)).all()  # type: ignore[call-overload]
        batch = [OutboxRow(id, orjson.loads(row)) for id, row in found]
        yield batch
        if locking and batch:
            await _delete(session, batch)
    if not locking and batch:
        async with database.write_session() as session:
            await _delete(session, batch)


async def _delete(session: AsyncSession, batch: list[OutboxRow]) -> None:
    ids = [entry.id for entry in batch]
    statement = delete(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    await session.exec(statement, params={"ids": ids})

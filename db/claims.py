"""Claiming the oldest rows of a queue table (an `id`-ordered outbox) for one consumer.

The metrics outbox (db/metrics_outbox.py) and the OTLP ingestion queue
(db/repositories/ingest_queue.py) are drained the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Column, Table, bindparam, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.session import Database


@asynccontextmanager
async def claimed_rows(
    database: Database, table: Table, columns: Sequence[Column[Any]], limit: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Up to `limit` of the oldest rows (`id` first, then `columns`), deleted when the block
    ends without error.

    PostgreSQL: the rows are locked `FOR UPDATE SKIP LOCKED` in a transaction that lasts
    the block, so the consumers of several server processes take disjoint batches, and rows
    of a process killed mid-block are unlocked for the others. SQLite serves one process
    (one consumer task): the rows are read without a lock, and deleted afterwards in a
    `write_session`, which queues behind `process` instead of holding its write lock
    while the block runs.
    """
    statement = select(table.c.id, *columns).order_by(table.c.id).limit(limit)
    locking = database.backend == "postgresql"
    if locking:
        statement = statement.with_for_update(skip_locked=True)
    async with database.session() as session:
        result = await session.exec(statement)  # type: ignore[call-overload]
        found = [tuple(row) for row in result.all()]
        yield found
        if locking and found:
            await _delete(session, table, [row[0] for row in found])
    if not locking and found:
        async with database.write_session() as session:
            await _delete(session, table, [row[0] for row in found])


async def _delete(session: AsyncSession, table: Table, ids: list[int]) -> None:
    statement = delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
    await session.exec(statement, params={"ids": ids})

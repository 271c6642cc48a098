"""Claiming the oldest rows of a queue table (an `id`-ordered outbox) for one consumer.

The metrics outbox (db/metrics_outbox.py) and the OTLP ingestion queue
(db/repositories/ingest_queue.py) are drained the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, bindparam, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.session import Database


@dataclass
class Claim:
    """Claimed rows (`id` first, then the columns asked for) and the unit of work that
    deletes them: whatever `consumed` is given to write commits with their deletion."""

    rows: list[tuple[Any, ...]]
    _database: Database
    _table: Table
    _locked: AsyncSession | None  # PostgreSQL: the transaction holding the rows' locks

    @property
    def ids(self) -> list[int]:
        return [row[0] for row in self.rows]

    @asynccontextmanager
    async def consumed(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction deletes the claimed rows, with whatever the block
        writes in it: both commit, or neither."""
        if self._locked is not None:  # committed when the claim's block ends
            yield self._locked
            await _delete(self._locked, self._table, self.ids)
            return
        async with self._database.write_session() as session:
            yield session
            await _delete(session, self._table, self.ids)


@asynccontextmanager
async def claimed(
    database: Database,
    table: Table,
    columns: Sequence[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> AsyncIterator[Claim]:
    """Up to `limit` of the oldest rows (those matching `where`), for the block to consume.

    PostgreSQL: the rows are locked `FOR UPDATE SKIP LOCKED` in a transaction that lasts
    the block, so the consumers of several server processes take disjoint batches, and rows
    of a process killed mid-block are unlocked for the others; `Claim.consumed` writes in
    that transaction. SQLite serves one process (one consumer task): the rows are read
    without a lock, and `Claim.consumed` is a `write_session`, which queues behind `process`
    instead of holding its write lock while the block runs.
    """
    statement = select(table.c.id, *columns).order_by(table.c.id).limit(limit)
    if where is not None:
        statement = statement.where(where)
    locking = database.backend == "postgresql"
    if locking:
        statement = statement.with_for_update(skip_locked=True)
    async with database.session() as session:
        result = await session.exec(statement)  # type: ignore[call-overload]
        found = [tuple(row) for row in result.all()]
        yield Claim(found, database, table, session if locking else None)


@asynccontextmanager
async def claimed_rows(
    database: Database, table: Table, columns: Sequence[Column[Any]], limit: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Up to `limit` of the oldest rows (`id` first, then `columns`), deleted when the block
    ends without error (`claimed` says how several processes share them)."""
    async with claimed(database, table, columns, limit) as claim:
        yield claim.rows
        if claim.rows:
            async with claim.consumed():
                pass


async def _delete(session: AsyncSession, table: Table, ids: list[int]) -> None:
    statement = delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
    await session.exec(statement, params={"ids": ids})

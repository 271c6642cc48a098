"""Claiming the oldest rows of a queue for one consumer, finished in one transaction.

The metrics outbox (db/metrics_outbox.py) and the OTLP ingestion queue
(db/repositories/ingest_queue.py) delete what they consumed; the vector writer's queue
(db/vector_queue.py) marks its sessions instead. All three claim through `claimed_by`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, bindparam, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.session import Database

# What ends a claim, given the claimed ids: deleting the rows, or marking them done.
Finish = Callable[[AsyncSession, list[Any]], Awaitable[None]]


@dataclass
class Claim:
    """Claimed rows (`id` first, then the columns asked for) and the unit of work that
    finishes them: whatever `consumed` is given to write commits with their finishing."""

    rows: list[tuple[Any, ...]]
    _database: Database
    _finish: Finish
    _locked: AsyncSession | None  # PostgreSQL: the transaction holding the rows' locks

    @property
    def ids(self) -> list[Any]:
        return [row[0] for row in self.rows]

    @asynccontextmanager
    async def consumed(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction finishes the claimed rows, with whatever the block
        writes in it: both commit, or neither."""
        if self._locked is not None:  # committed when the claim's block ends
            yield self._locked
            await self._finish(self._locked, self.ids)
            return
        async with self._database.write_session() as session:
            yield session
            await self._finish(session, self.ids)


@asynccontextmanager
async def claimed_by(
    database: Database, statement: Select[Any], finish: Finish, lock_of: Table | None = None
) -> AsyncIterator[Claim]:
    """The rows `statement` selects (`id` first, ordered and limited by it), for the block
    to consume; `finish` ends them (`lock_of`: the table whose rows a join locks).

    PostgreSQL: the rows are locked `FOR UPDATE SKIP LOCKED` in a transaction that lasts
    the block, so the consumers of several server processes take disjoint batches, and rows
    of a process killed mid-block are unlocked for the others; `Claim.consumed` writes in
    that transaction. SQLite serves one process (one consumer task): the rows are read
    without a lock, and `Claim.consumed` is a `write_session`, which queues behind `process`
    instead of holding its write lock while the block runs.
    """
    locking = database.backend == "postgresql"
    if locking:
        statement = statement.with_for_update(skip_locked=True, of=lock_of)
    async with database.session() as session:
        result = await session.exec(statement)  # type: ignore[call-overload]
        found = [tuple(row) for row in result.all()]
        yield Claim(found, database, finish, session if locking else None)


@asynccontextmanager
async def claimed(
    database: Database,
    table: Table,
    columns: Sequence[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> AsyncIterator[Claim]:
    """Up to `limit` of the oldest rows (those matching `where`), for the block to consume;
    consuming deletes them (`claimed_by` says how several processes share them)."""
    statement = select(table.c.id, *columns).order_by(table.c.id).limit(limit)
    if where is not None:
        statement = statement.where(where)

    async def finish(session: AsyncSession, ids: list[Any]) -> None:
        await _delete(session, table, ids)

    async with claimed_by(database, statement, finish) as claim:
        yield claim


@asynccontextmanager
async def claimed_rows(
    database: Database, table: Table, columns: Sequence[Column[Any]], limit: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Up to `limit` of the oldest rows (`id` first, then `columns`), deleted when the block
    ends without error (`claimed_by` says how several processes share them)."""
    async with claimed(database, table, columns, limit) as claim:
        yield claim.rows
        if claim.rows:
            async with claim.consumed():
                pass


async def _delete(session: AsyncSession, table: Table, ids: list[Any]) -> None:
    statement = delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
    await session.exec(statement, params={"ids": ids})

"""Core statements run on the driver's connection (db/direct.py, Database.fetch_direct and
execute_direct): the same rows and writes as SQLAlchemy's own execution, and the same
handling of a lost connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, Uuid, bindparam, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from core.errors import ServiceUnavailable
from db.direct import DirectStatement
from db.session import CONNECTION_LOST, DIRECT_STATEMENTS, Database
from db.types import JSONDocument, UTCDateTime

_METADATA = MetaData()
_NOTES = Table(
    "direct_notes",
    _METADATA,
    Column("id", Uuid(), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("body", JSONDocument, nullable=False),
    Column("at", UTCDateTime(), nullable=True),
)
# A literal in each: it is bound from the compiled statement, not from the caller.
_ADD = insert(_NOTES).values(id=bindparam("id"), kind="fixed", body=bindparam("body"))
_READ = select(_NOTES.c.id, _NOTES.c.kind, _NOTES.c.body).where(_NOTES.c.id == bindparam("id"))
_RENAME = sql_update(_NOTES).where(_NOTES.c.kind == "fixed").values(kind=bindparam("kind"))


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=2)
    async with database.engine.begin() as connection:
        await connection.run_sync(_METADATA.create_all)
    try:
        yield database
    finally:
        async with database.engine.begin() as connection:
            await connection.run_sync(_METADATA.drop_all)
        await database.close()


async def test_rows_and_writes_are_those_of_sqlalchemy(database: Database) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    body = {"words": ["a", "b"], "n": 3, "none": None, "nested": {"x": 1.5}}
    assert await database.execute_direct(_ADD, {"id": first, "body": body}) == 1
    assert await database.execute_direct(_ADD, {"id": second, "body": []}) == 1

    rows = await database.fetch_direct(_READ, {"id": first})
    assert [tuple(row) for row in rows] == [(first, "fixed", body)]
    async with database.read() as session:
        through_sqlalchemy = (await session.exec(_READ, params={"id": first})).all()
    assert [tuple(row) for row in through_sqlalchemy] == [tuple(row) for row in rows]
    assert await database.fetch_direct(_READ, {"id": uuid.uuid4()}) == []

    assert await database.execute_direct(_RENAME, {"kind": "renamed"}) == 2
    assert await database.execute_direct(_RENAME, {"kind": "again"}) == 0  # no "fixed" left


def test_a_missing_parameter_is_named_and_literals_are_bound() -> None:
    compiled = DirectStatement.compile(_RENAME, PGDialect_asyncpg())
    assert "$1" in compiled.sql
    assert "$2" in compiled.sql
    assert sorted(compiled.arguments({"kind": "x"})) == ["fixed", "x"]
    with pytest.raises(KeyError, match="kind"):
        compiled.arguments({})


def test_a_column_that_needs_result_processing_is_refused() -> None:
    with pytest.raises(ValueError, match="'at'"):
        DirectStatement.compile(select(_NOTES.c.at), PGDialect_asyncpg())


async def test_a_bound_value_goes_through_its_type(database: Database) -> None:
    """A type decorator's bind processing applies: UTCDateTime refuses a naive time (the
    driver alone would store it) and stores an aware one as its instant."""
    stamp = sql_update(_NOTES).values(at=bindparam("at"))
    await database.execute_direct(_ADD, {"id": uuid.uuid4(), "body": {}})
    with pytest.raises(ValueError, match="naive datetime"):
        await database.execute_direct(stamp, {"at": datetime(2026, 1, 2, 3, 4)})
    paris = timezone(timedelta(hours=1))
    assert await database.execute_direct(stamp, {"at": datetime(2026, 1, 2, 4, 4, tzinfo=paris)})
    async with database.read() as session:
        stored = (await session.exec(select(_NOTES.c.at))).scalar_one()
    assert stored == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


async def test_a_connection_lost_under_a_direct_statement_is_refused_once_then_replaced(
    postgres_url: str, database: Database
) -> None:
    """As for SQLAlchemy's own statements: after a lost connection, every connection older
    than it is dropped too, so a server restart refuses one unit of work, not one a
    pooled connection."""
    admin = Database(postgres_url)
    held = select(text("pg_backend_pid()"), text("pg_sleep(0.2)"))
    pid = select(text("pg_backend_pid()"))
    try:
        both = await asyncio.gather(*(database.fetch_direct(held, {}) for _ in range(2)))
        pooled = {rows[0][0] for rows in both}
        assert len(pooled) == 2  # the pool's two connections, both open
        async with admin.session() as session:
            for backend in pooled:
                await session.exec(text(f"SELECT pg_terminate_backend({backend})"))
        outcomes: list[int | str] = []
        for _ in range(4):
            try:
                outcomes.append((await database.fetch_direct(pid, {}))[0][0])
            except ServiceUnavailable as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == CONNECTION_LOST
        assert all(isinstance(found, int) and found not in pooled for found in outcomes[1:])
    finally:
        await admin.close()


async def test_on_sqlite_rows_come_through_sqlalchemy_and_writes_are_refused(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_METADATA.create_all)
        async with database.session() as session:
            await session.exec(_ADD, params={"id": uuid.uuid4(), "body": {"a": 1}})
        rows = await database.fetch_direct(select(_NOTES.c.kind, _NOTES.c.body), {})
        assert [tuple(row) for row in rows] == [("fixed", {"a": 1})]
        with pytest.raises(ValueError, match="PostgreSQL only"):
            await database.execute_direct(_RENAME, {"kind": "x"})
    finally:
        await database.close()


async def test_statements_built_per_call_are_kept_within_a_bound(database: Database) -> None:
    for n in range(DIRECT_STATEMENTS + 10):
        rows = await database.fetch_direct(select(text(f"{n} AS n")), {})
        assert [tuple(row) for row in rows] == [(n,)]
    assert len(database._direct) == DIRECT_STATEMENTS


async def test_a_cancelled_direct_statement_leaves_its_connection_usable(
    postgres_url: str,
) -> None:
    """asyncpg cancels the statement on the server; the pooled connection serves the next
    unit of work at once (not after the statement would have ended)."""
    database = Database(postgres_url, pool_size=1)
    pid = select(text("pg_backend_pid()"))
    try:
        before = (await database.fetch_direct(pid, {}))[0][0]
        slow = asyncio.create_task(database.fetch_direct(select(text("pg_sleep(5)")), {}))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        after = await asyncio.wait_for(database.fetch_direct(pid, {}), 2)
        assert after[0][0] == before
    finally:
        await database.close()

"""The relational store: one async engine per process and short units of work on it.

Round trips are the cost of a request on PostgreSQL, so the pool does not ping a
connection at checkout (asyncpg's pre-ping is BEGIN, `;`, ROLLBACK: three round trips on
every checkout). A connection the server dropped is found at its first statement instead:
SQLAlchemy then invalidates it and every older pooled connection, and the unit of work
fails with ServiceUnavailable, so after a database restart a request in flight is refused
once with a clear message and the next ones reconnect.

The pool is a fixed set of connections with no overflow: SQLAlchemy closes an overflow
connection as soon as it is returned to a full pool, so a worker whose concurrency sat
above the pool size opened and closed a PostgreSQL connection (TLS attempt, startup,
statement cache lost) for most requests. At 50 concurrent `process` calls on one worker
(bench/process_load_bench.py, three rounds on a busy machine): pool 10 + 10 overflow
5.5-7.6 worker CPU ms per request, a fixed pool of 50 4.4-5.5.
A request that finds every connection busy waits up to `pool_timeout` seconds, then is
refused with ServiceUnavailable (POOL_EXHAUSTED), not an INTERNAL error.

It waits in turn. Waiting in SQLAlchemy's async pool was not: at 200 `process` calls in
flight on one serving process (bench/process_load_bench.py, one worker, PostgreSQL), the
wait for a read's connection had p50 0.2 ms but p90 0.8 s, p99 3.0 s and max 6.1 s, so a
few requests waited seconds while most went straight through (request p99 3.3-6.5 s in
most runs, against p50 0.5-1 s). Every unit of work therefore first takes a turn from a
semaphore the size of the pool (asyncio's hands a released turn to its first waiter and
lets no newcomer past one), and SQLAlchemy's pool always has a connection free: in the
same scenario the wait for a turn had p50 274 ms, p99 457 ms and max 473 ms, and requests
p99 1.7-2.3 s over four runs. Which step of SQLAlchemy's wait reorders its waiters under
load was not isolated: unloaded, in a test, it served them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.expression import Executable, ReturnsRows
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import ServiceUnavailable
from core.lru import LRU
from db.direct import DirectStatement

CONNECTION_LOST = "the database connection was lost; try again"
POOL_EXHAUSTED = "the database is busy: no connection became free in time; try again"
DIRECT_STATEMENTS = 64  # compiled statements kept for fetch_direct and execute_direct


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _json_text(value: Any) -> str:
    """JSON columns written with orjson: the standard library's encoder took 0.6 ms of each
    `process` under cProfile (which inflates it) for the session's three documents (state,
    metrics, evaluations). What orjson cannot write (an integer beyond 64 bits, from a
    GraphQL literal) the standard library still does; orjson reads it back as a float, as
    the API decodes request JSON."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def create_engine(url: str, *, pool_size: int = 40, pool_timeout: float = 10.0) -> AsyncEngine:
    """An async engine for SQLite (foreign keys and WAL on) or PostgreSQL (a fixed pool)."""
    parsed = make_url(url)
    json_options: dict[str, Any] = {
        "json_serializer": _json_text,
        "json_deserializer": orjson.loads,
    }
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **json_options)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        **json_options,
    )


@asynccontextmanager
async def _connection_loss_refused() -> AsyncIterator[None]:
    """A dropped connection (server restart, network) or a pool with no free connection
    as ServiceUnavailable, not INTERNAL."""
    try:
        yield
    except PoolTimeout as exc:
        raise ServiceUnavailable(POOL_EXHAUSTED) from exc
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise ServiceUnavailable(CONNECTION_LOST) from exc


@dataclass(frozen=True)
class PoolUsage:
    """The PostgreSQL pool's connections now: its fixed size, in use, and idle."""

    size: int
    checked_out: int
    idle: int


class Database:
    """The primary store; `session()` is a unit of work: commit on success, rollback on error."""

    def __init__(self, url: str, *, pool_size: int = 40, pool_timeout: float = 10.0) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self._sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        # PostgreSQL reads outside a transaction: no BEGIN and COMMIT around one statement.
        # SQLite's driver opens no transaction for a SELECT anyway, and switching its
        # isolation level would cost a thread hop per checkout, so it reads as it writes.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self._autocommit if self.backend == "postgresql" else self.engine,
            class_=AsyncSession,
            expire_on_commit=False,
        )
        self._sqlite_writers = asyncio.Lock() if self.backend == "sqlite" else None
        self._pool_timeout = pool_timeout
        self._turns = asyncio.Semaphore(pool_size) if self.backend == "postgresql" else None
        # Statements are built once (module constants), so this stays small; the bound is
        # against a caller that builds one per call.
        self._direct: LRU[ReturnsRows, DirectStatement] = LRU(DIRECT_STATEMENTS)
        # Set by tracing (server/tracing.py): a span around each direct statement, which
        # SQLAlchemy's instrumentation does not see. Takes the statement's SQL.
        self.direct_span: Callable[[str], AbstractContextManager[object]] | None = None

    def pool_usage(self) -> PoolUsage | None:
        """The pool's connections now; None on SQLite, which has no pool of its own."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return PoolUsage(pool.size(), pool.checkedout(), pool.checkedin())

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """A turn at the pool, first come first served (see the module docstring), held for
        the unit of work; POOL_EXHAUSTED when none comes within the pool's timeout."""
        if self._turns is None:  # SQLite: no pool to queue for
            yield
            return
        if not self._turns.locked():  # a turn free and nobody waiting: no timer to arm
            await self._turns.acquire()
        else:
            try:
                async with asyncio.timeout(self._pool_timeout):
                    await self._turns.acquire()
            except TimeoutError as exc:
                raise ServiceUnavailable(POOL_EXHAUSTED) from exc
        try:
            yield
        finally:
            self._turns.release()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with (
            self._turn(),
            _connection_loss_refused(),
            self._sessions() as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads and needs no snapshot across its statements.

        On PostgreSQL each statement runs on its own (autocommit), one round trip instead of
        three; use `session()` when several reads must agree with each other.
        """
        async with self._turn(), _connection_loss_refused(), self._readers() as session:
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """`session()` for a unit of work that writes under contention (`process`).

        SQLite has one writer at a time and makes the others poll in busy_timeout, in no
        order: with 50 concurrent `process` calls on one agent, one waited over the 5 s
        and failed with "database is locked". This process's SQLite writers queue on a
        lock instead, first come first served. PostgreSQL locks rows and needs none.
        """
        async with self._sqlite_writers or contextlib.nullcontext(), self.session() as session:
            yield session

    async def fetch_direct(
        self, statement: ReturnsRows, values: Mapping[str, Any]
    ) -> list[Sequence[Any]]:
        """The rows of `statement`, run on its own: on PostgreSQL (autocommit) on the driver's
        connection (db/direct.py says why), on SQLite in a read through SQLAlchemy."""
        if self.backend != "postgresql":  # no pool to take turns at
            async with self.engine.connect() as connection:
                return list((await connection.execute(cast(Executable, statement), values)).all())
        prepared = self._prepared(statement)
        async with self._driver() as connection:
            with self._span(prepared.sql):
                rows: list[Sequence[Any]] = await connection.fetch(
                    prepared.sql, *prepared.arguments(values)
                )
            return rows

    async def execute_direct(self, statement: ReturnsRows, values: Mapping[str, Any]) -> int:
        """PostgreSQL: `statement` run on its own on the driver's connection; how many rows
        its command reports (the count of `INSERT 0 1`, `UPDATE 3`)."""
        if self.backend != "postgresql":
            raise ValueError("execute_direct runs on PostgreSQL only")
        prepared = self._prepared(statement)
        async with self._driver() as connection:
            with self._span(prepared.sql):
                status: str = await connection.execute(prepared.sql, *prepared.arguments(values))
        return int(status.rsplit(" ", 1)[-1])

    def _span(self, sql: str) -> AbstractContextManager[object]:
        return contextlib.nullcontext() if self.direct_span is None else self.direct_span(sql)

    def _prepared(self, statement: ReturnsRows) -> DirectStatement:
        prepared = self._direct.get(statement)
        if prepared is None:
            prepared = DirectStatement.compile(statement, self.engine.dialect)
            self._direct.put(statement, prepared)
        return prepared

    @asynccontextmanager
    async def _driver(self) -> AsyncIterator[Any]:
        """A pooled connection's asyncpg connection, outside any transaction.

        Taken from the pool itself, not through an SQLAlchemy Connection, whose checkout
        (its events, the AUTOCOMMIT characteristic set and reset) cost three times the
        pool's own: 71 against 25 µs of CPU, twice per `process`. A lost connection is
        handled as SQLAlchemy handles one under its own statements (module docstring):
        it and every older pooled connection are invalidated, and the unit of work is
        refused once."""
        pool = self.engine.sync_engine.pool
        async with self._turn(), _connection_loss_refused():
            pooled = await greenlet_spawn(pool.connect)
            try:
                yield pooled.driver_connection
            except Exception as exc:
                driver = pooled.driver_connection
                if driver is None or not driver.is_closed():
                    raise
                # What SQLAlchemy's Connection does on a disconnect (_handle_dbapi_exception).
                pool._invalidate(pooled, exc)
                raise ServiceUnavailable(CONNECTION_LOST) from exc
            finally:
                await greenlet_spawn(pooled.close)

    async def ping(self) -> float:
        """Round-trip time of `SELECT 1` in milliseconds."""
        started = time.perf_counter()
        async with self._turn(), self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        await self.engine.dispose()

"""The analytics store: ClickHouse through clickhouse-connect, embedded chDB by default.

clickhouse-connect's client is synchronous (and chDB has no async client), so every call
runs in a worker thread, on purpose, to keep the event loop free. Embedded chDB is one
session per process, so calls on its shared client are serialised by a lock; a ClickHouse
server's client is a pool of HTTP connections without a session, and its calls run side by
side. An export stream gets a client (and thread) of its own, so a long download never
holds that lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
import typing
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver import options as clickhouse_options
from clickhouse_connect.driver.client import Client

from core.records import MetricsRow
from db.analytics_migrations import AGENT_STATS_TABLE, METRICS_TABLE

# clickhouse-connect imports pandas (chDB depends on it) the first time it inserts, to ask
# whether the rows are a DataFrame: 0.95-1.6 s holding the GIL inside a server that is
# already answering, and 82 MB. Ours are lists of tuples: it is told there is no pandas.
clickhouse_options.pd = None
clickhouse_options.pd_time_test = None

EXPORT_CHUNK_BYTES = 64 * 1024
MAX_LIVE_EXPORTS = 10_000

# ClickHouse type of each Python type of MetricsRow's fields (a field's `clickhouse` metadata
# overrides it); tests/analytics/test_table.py checks the result against the live table.
_CLICKHOUSE_TYPES: dict[Any, str] = {
    datetime: "DateTime64(3, 'UTC')",
    uuid.UUID: "UUID",
    float: "Float64",
    bool: "Bool",
    int: "UInt32",
    str: "String",
    tuple[str, ...]: "Array(LowCardinality(String))",
}


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _uuid_number(value: Any) -> int:
    """An id as its 128-bit number, which clickhouse-connect encodes as it is: a staged row's
    id is text, and reading the number from it costs a third of making a UUID object."""
    return value.int if isinstance(value, uuid.UUID) else int(str(value).replace("-", ""), 16)


def _as_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


# What the insert needs done to a value of each Python type, beyond passing it on: a staged
# row (JSON) has ids and times as strings, and a row's categories are a tuple.
_INSERT_FORMS: dict[Any, Callable[[Any], Any]] = {
    uuid.UUID: _uuid_number,
    datetime: _as_datetime,
    tuple[str, ...]: list,
}


@dataclass(frozen=True)
class Column:
    """One column of consciousness_metrics: the MetricsRow field it stores, its name and type."""

    field: str
    name: str
    clickhouse_type: str
    insert_form: Callable[[Any], Any] | None  # the conversion row_values applies, if any
    default: Any = None  # the value of a row staged before the column existed


def _metrics_columns() -> tuple[Column, ...]:
    hints = typing.get_type_hints(MetricsRow)
    return tuple(
        Column(
            f.name,
            f.metadata.get("column", f.name),
            f.metadata.get("clickhouse") or _CLICKHOUSE_TYPES[hints[f.name]],
            _INSERT_FORMS.get(hints[f.name]),
            None if f.default is dataclasses.MISSING else f.default,
        )
        for f in dataclasses.fields(MetricsRow)
    )


# The columns of consciousness_metrics (db/analytics_migrations), in MetricsRow's field order.
COLUMNS = _metrics_columns()
METRICS_COLUMNS = tuple(column.name for column in COLUMNS)
ColumnRow = dict[str, Any]  # one value per METRICS_COLUMNS name: the insert and spool form


def metrics_columns(row: MetricsRow) -> ColumnRow:
    """The row of the consciousness_metrics table for `row`, keyed by column name."""
    return {column.name: getattr(row, column.field) for column in COLUMNS}


def row_values(row: ColumnRow) -> list[Any]:
    """A row as the insert wants it: values in column order, ids as numbers, times as datetime;
    a column the row lacks (staged before the column was added) gets its default."""
    values = [row.get(column.name, column.default) for column in COLUMNS]
    return [
        value if column.insert_form is None else column.insert_form(value)
        for column, value in zip(COLUMNS, values, strict=True)
    ]


def as_utc(value: datetime) -> datetime:
    """chDB may return zone-less times; every time in the table is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AnalyticsStore:
    """One client per process; `backend` says whether it is embedded chDB or a server."""

    def __init__(self, client: Client, backend: str, url: str = "") -> None:
        self._client = client
        self._url = url
        self.backend = backend
        # One call at a time on chDB's one session; none for a server (module docstring).
        self._lock: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if backend == "chdb" else contextlib.nullcontext()
        )
        self.exports = ExportRegistry()

    @classmethod
    async def open(cls, url: str) -> AnalyticsStore:
        backend = "chdb" if url.startswith("chdb:") else "clickhouse"
        # No session for a server: a session takes one query at a time, and calls on this
        # client run side by side.
        options: dict[str, Any] = {} if backend == "chdb" else {"autogenerate_session_id": False}
        client = await asyncio.to_thread(clickhouse_connect.get_client, dsn=url, **options)
        return cls(client, backend, url)

    async def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        """Rows of a parameterised query; values always go in `parameters`, never in `sql`."""
        async with self._lock:
            result = await asyncio.to_thread(self._client.query, sql, parameters=parameters)
        return list(result.result_rows)

    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> object:
        """Run a statement that returns no rows (DDL, INSERT … VALUES, DELETE)."""
        async with self._lock:
            return await asyncio.to_thread(self._client.command, sql, parameters=parameters)

    async def insert_metrics(self, rows: Sequence[ColumnRow], dedup_token: str) -> None:
        """Insert rows as one block; a block with a token already seen is dropped by ClickHouse.

        `dedup_token` is what makes a retry idempotent: the table keeps the tokens of its
        last 1000 inserts (non_replicated_deduplication_window; replicated tables always
        do), so re-sending a batch that did arrive inserts nothing.
        """
        data = [row_values(row) for row in rows]
        async with self._lock:
            await asyncio.to_thread(
                self._client.insert,
                METRICS_TABLE,
                data,
                column_names=list(METRICS_COLUMNS),
                column_type_names=[column.clickhouse_type for column in COLUMNS],
                settings={"insert_deduplication_token": dedup_token},
            )

    async def stored_request_ids(self, rows: Sequence[ColumnRow]) -> set[uuid.UUID]:
        """Which of `rows` the table already holds, by request id: the check before a
        replayed insert. The rows' time span bounds the scan to the primary key's range."""
        if not rows:
            return set()
        times = [_as_datetime(row["timestamp"]) for row in rows]
        found = await self.query_rows(
            f"SELECT request_id FROM {METRICS_TABLE} "  # noqa: S608  (a constant table name)
            "WHERE timestamp BETWEEN {start:DateTime64(3, 'UTC')} AND {end:DateTime64(3, 'UTC')} "
            "AND request_id IN {ids:Array(UUID)}",
            {
                "start": min(times),
                "end": max(times),
                "ids": [str(row["request_id"]) for row in rows],  # bound as text either way
            },
        )
        return {_as_uuid(request_id) for (request_id,) in found}

    async def delete_metrics(
        self, *, agent_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
    ) -> None:
        """Lightweight DELETE of an agent's or a user's rows (GDPR, agent deletion).

        Their rows of agent_daily_stats go too: it is keyed by agent and user, so what is
        left there adds up the metrics rows that are left.
        """
        if (agent_id is None) == (user_id is None):
            raise ValueError("give exactly one of agent_id and user_id")
        column, value = ("agent_id", agent_id) if agent_id is not None else ("user_id", user_id)
        for table in (METRICS_TABLE, AGENT_STATS_TABLE):
            # `table` and `column` are literals above; the id is a query parameter.
            sql = f"DELETE FROM {table} WHERE {column} = {{id:UUID}}"  # noqa: S608
            await self.command(sql, {"id": value})

    async def stream_raw(
        self, sql: str, parameters: dict[str, Any], fmt: str
    ) -> AsyncGenerator[bytes, None]:
        """The bytes of `sql` in ClickHouse's output format `fmt`, chunk by chunk.

        A dedicated client and a one-thread executor serve the stream: the client's stream
        must be read by the thread that opened it, and the shared client stays free.
        Formats chDB cannot stream block by block (Parquet) are built whole by chDB.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-export")
        loop = asyncio.get_running_loop()
        url = self._url

        def open_stream() -> tuple[Client, Any]:
            client = clickhouse_connect.get_client(dsn=url)
            try:
                return client, client.raw_stream(sql, parameters=parameters, fmt=fmt)
            except BaseException:
                client.close()
                raise

        def close(client: Client, stream: Any) -> None:
            try:
                stream.close()
            finally:
                client.close()

        try:
            client, stream = await loop.run_in_executor(executor, open_stream)
            try:
                while chunk := await loop.run_in_executor(
                    executor, stream.read, EXPORT_CHUNK_BYTES
                ):
                    yield chunk
            finally:
                await loop.run_in_executor(executor, close, client, stream)
        finally:
            executor.shutdown(wait=False)

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.query_rows("SELECT 1")
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._client.close)


@dataclass(frozen=True)
class ExportJob:
    """A download registered by exportAnalytics: who may fetch it, what, until when."""

    id: str
    owner_id: str
    sql: str
    parameters: dict[str, Any]
    fmt: str  # a ClickHouse output format
    media_type: str
    filename: str
    expires_at: float  # time.time()
    header: bytes = b""  # written before ClickHouse's bytes (the CSV header line)


class ExportRegistry:
    """Exports by id, in this process's memory, each forgotten at its expiry.

    With several server processes a download must reach the one that registered it
    (or this moves to Redis); the single-process default needs nothing more.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, ExportJob] = {}

    def register(self, owner_id: str, ttl_seconds: float, **job: Any) -> ExportJob:
        self.sweep()
        if len(self._jobs) >= MAX_LIVE_EXPORTS:
            raise OverflowError("too many live exports")
        export_id = secrets.token_urlsafe(24)  # unguessable: the id is half of the key
        created = ExportJob(
            id=export_id, owner_id=owner_id, expires_at=time.time() + ttl_seconds, **job
        )
        self._jobs[export_id] = created
        return created

    def get(self, export_id: str, owner_id: str) -> ExportJob | None:
        """The job when it exists, has not expired and belongs to `owner_id`; else None."""
        job = self._jobs.get(export_id)
        if job is None or job.expires_at <= time.time():
            self._jobs.pop(export_id, None)
            return None
        return job if secrets.compare_digest(job.owner_id, owner_id) else None

    def sweep(self) -> None:
        now = time.time()
        for export_id in [key for key, job in self._jobs.items() if job.expires_at <= now]:
            del self._jobs[export_id]

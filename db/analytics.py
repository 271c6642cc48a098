"""The analytics store: ClickHouse through clickhouse-connect, embedded chDB by default.

clickhouse-connect's client is synchronous (and chDB has no async client), so every call
runs in a worker thread, on purpose, to keep the event loop free.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client


class AnalyticsStore:
    """One client per process; `backend` says whether it is embedded chDB or a server."""

    def __init__(self, client: Client, backend: str) -> None:
        self._client = client
        self.backend = backend
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> AnalyticsStore:
        backend = "chdb" if url.startswith("chdb:") else "clickhouse"
        client = await asyncio.to_thread(clickhouse_connect.get_client, dsn=url)
        return cls(client, backend)

    async def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        """Rows of a parameterised query; values always go in `parameters`, never in `sql`."""
        async with self._lock:
            result = await asyncio.to_thread(self._client.query, sql, parameters=parameters)
        return list(result.result_rows)

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.query_rows("SELECT 1")
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._client.close)

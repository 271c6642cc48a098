"""The analytics store serialises calls only on embedded chDB (one session per process); on a
ClickHouse server, calls of concurrent requests run side by side."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

from db.analytics import AnalyticsStore

CALLS = 3


class CountingClient:
    """A stand-in for clickhouse-connect's client: counts the queries running at once."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> SimpleNamespace:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if self.barrier is not None:
            self.barrier.wait()  # every call must be inside at once, or this times out
        else:
            time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return SimpleNamespace(result_rows=[])


async def test_calls_on_embedded_chdb_run_one_at_a_time() -> None:
    client = CountingClient()
    store = AnalyticsStore(client, "chdb")  # type: ignore[arg-type]
    await asyncio.gather(*(store.query_rows("SELECT 1") for _ in range(CALLS)))
    assert client.most_at_once == 1


async def test_calls_on_a_clickhouse_server_run_side_by_side() -> None:
    client = CountingClient(threading.Barrier(CALLS, timeout=10))
    store = AnalyticsStore(client, "clickhouse")  # type: ignore[arg-type]
    await asyncio.gather(*(store.query_rows("SELECT 1") for _ in range(CALLS)))
    assert client.most_at_once == CALLS

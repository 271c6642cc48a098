"""A background task that drains a queue table: woken when rows are added, and on a timer.

The metrics writer (db/analytics_writer.py) and the OTLP ingestion worker
(server/otlp_worker.py) share it: `wake` after a commit, a drain every
`retry_interval_seconds` anyway (which also takes the rows of a process that died), a
failed drain retried after that interval, and one last drain on `close`.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):  # not wait_for: see Stores.health
            await event.wait()


class DrainLoop:
    """Runs `drain` (a subclass's) when woken; `gather_seconds` waits for more rows first."""

    def __init__(self, name: str, retry_interval_seconds: float, gather_seconds: float) -> None:
        self._name = name
        self._retry_interval = retry_interval_seconds
        self._gather = gather_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()

    async def drain(self) -> bool:
        """Drain until nothing is left; False when it failed (and should be retried)."""
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        """Whether this process drains on its own (started and not closed)."""
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self) -> None:
        """Stop the task after one last drain (nothing to do if it never started)."""
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._closing.is_set():
            await wait_event(self._wake, self._retry_interval)
            if self._gather:
                await wait_event(self._closing, self._gather)
            self._wake.clear()
            if not await self.drain():
                await wait_event(self._closing, self._retry_interval)
        await self.drain()

"""A cancellation that lands as a health check or the drain loop's wait ends is kept.

Python 3.11's `asyncio.wait_for` returned the finished result and dropped such a cancel, so
the cancelled caller (a request past its time limit, a shutdown) ran on. Each test cancels
the caller in the very step where what it waits for completes.
"""

from __future__ import annotations

import asyncio

import pytest

from db.drain_loop import wait_event
from db.stores import _check


async def test_a_health_check_cancelled_as_its_ping_answers_is_cancelled() -> None:
    caller: asyncio.Task[object] | None = None

    async def ping() -> float:
        assert caller is not None
        caller.cancel()  # in the same step as the answer
        return 0.5

    caller = asyncio.create_task(_check("database", "sqlite", ping))
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_a_writer_waiting_for_rows_cancelled_as_they_arrive_is_cancelled() -> None:
    arrived = asyncio.Event()
    waiting = asyncio.create_task(wait_event(arrived, 5.0))
    await asyncio.sleep(0)  # it waits now
    arrived.set()
    waiting.cancel()  # in the same step as the event
    with pytest.raises(asyncio.CancelledError):
        await waiting

"""The system clock's timers, which the tests of expiry replace with a FakeClock's."""

from __future__ import annotations

import asyncio
import time

from core.clock import SystemClock


async def test_a_timer_fires_at_the_unix_time_it_was_set_for() -> None:
    clock = SystemClock()
    fired = asyncio.Event()
    started = time.monotonic()
    clock.call_at(clock.time() + 0.05, fired.set)
    assert not fired.is_set()
    await asyncio.wait_for(fired.wait(), 5)
    assert time.monotonic() - started >= 0.04


async def test_a_timer_set_for_the_past_fires_at_once() -> None:
    clock = SystemClock()
    fired = asyncio.Event()
    clock.call_at(clock.time() - 60, fired.set)
    await asyncio.wait_for(fired.wait(), 1)

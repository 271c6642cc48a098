"""Time as the code reads it: the system's clocks, or a test's that moves only when told.

Whatever compares the time with a deadline (a token's expiry, a revocation cutoff, waiting
for a server to answer) asks a `Clock`, so a test can step past the deadline instead of
waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Unix time in seconds, the scale of a token's `iat` and `exp`."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, for timeouts (never goes back)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread; not for the event loop's."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` on the running event loop once `time()` reaches `when`."""
        ...


class SystemClock:
    """The real clocks; what every process runs on."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        delay = max(0.0, when - time.time())
        return asyncio.get_running_loop().call_later(delay, callback)


SYSTEM_CLOCK: Clock = SystemClock()

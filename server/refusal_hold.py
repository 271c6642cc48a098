"""Holding a RATE_LIMITED answer over HTTP before sending it, so a refused loop slows down.

A caller over its limit is refused cheaply, but a client that loops as fast as it is
answered turns cheap refusals into hundreds a second: each still costs the server a
request's parse, limiter check, answer and socket writes, and the loop's CPU on a shared
machine. Holding the answer for RATE_LIMITED_HOLD_SECONDS costs the server one sleeping
task and an open connection, and brings such a loop down to about one request a second per
connection; a client that honours Retry-After was going to wait anyway. It is nginx's
`limit_req` choice (excess requests are delayed, then refused), applied to the refusal.

At most RATE_LIMITED_MAX_HELD answers are held at once; past that they go out at once, so
an attacker with many connections cannot turn held answers into a pile of open ones.
Websocket operations are not held (their socket and operation caps bound them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class HoldStats:
    held: int = 0  # answers held before they were sent
    over_capacity: int = 0  # answers sent at once because RATE_LIMITED_MAX_HELD were held


class RefusalHold:
    """Delays RATE_LIMITED answers by `seconds`, at most `max_held` at a time."""

    def __init__(self, seconds: float, max_held: int) -> None:
        self.seconds = seconds
        self.max_held = max_held
        self.holding = 0
        self.stats = HoldStats()

    async def hold(self) -> None:
        """Wait `seconds` unless `max_held` answers are already waiting."""
        if self.holding >= self.max_held:
            self.stats.over_capacity += 1
            return
        self.holding += 1
        self.stats.held += 1
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.holding -= 1

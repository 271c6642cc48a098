"""Rate-limit windows in Redis, each counted and read back in one round trip.

The `limits` library counts a hit with one script and reads the window's state with a
second, so every allowed request cost two Redis round trips per limit. These scripts do
both at once, on the same keys and with the same algorithms as `limits` (its moving window
and sliding-window counter, keys under `{key_prefix}:`), so what `limits` reads, resets and
clears (auth/ratelimit.py's `check`, `reset`, `clear`) stays consistent with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

# KEYS[1]: the window's list, newest first. ARGV: now (Unix seconds), limit, expiry seconds,
# cost. Allowed when the (limit - cost + 1)-th newest entry is older than the window (as
# `limits` acquires `amount` entries); then `cost` entries are pushed.
# Returns {allowed, oldest entry still in the window (string) or false, entries in window}.
_HIT_MOVING_WINDOW = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local start = now - expiry
local allowed = 0
if cost <= limit then
    local blocking = redis.call('lindex', KEYS[1], limit - cost)
    if not (blocking and tonumber(blocking) >= start) then
        local entries = {}
        for i = 1, cost do
            entries[i] = ARGV[1]
        end
        redis.call('lpush', KEYS[1], unpack(entries))
        redis.call('ltrim', KEYS[1], 0, limit - 1)
        redis.call('expire', KEYS[1], expiry)
        allowed = 1
    end
end
local low, high, found = 0, redis.call('llen', KEYS[1]) - 1, nil
while low <= high do
    local mid = math.floor((low + high) / 2)
    local value = tonumber(redis.call('lindex', KEYS[1], mid))
    if value and value >= start then
        found = mid
        low = mid + 1
    else
        high = mid - 1
    end
end
if found == nil then
    return {allowed, false, 0}
end
return {allowed, redis.call('lindex', KEYS[1], found), found + 1}
"""

# KEYS: previous and current window counters. ARGV: limit, expiry seconds, cost.
# `limits`' acquire_sliding_window.lua, then the counters as its sliding_window.lua reads them.
# Returns {allowed, previous count, previous TTL ms, current count, current TTL ms}.
_SPEND_SLIDING_WINDOW = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local cost = tonumber(ARGV[3])
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local function state()
    local previous_ttl = math.max(tonumber(redis.call('pttl', KEYS[1])) or 0, 0)
    local current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)
    return tonumber(redis.call('get', KEYS[1])) or 0, previous_ttl,
        tonumber(redis.call('get', KEYS[2])) or 0, current_ttl
end
local previous_count, previous_ttl, current_count = state()
local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
local allowed = 0
if cost <= limit and weighted + cost <= limit then
    if redis.call('exists', KEYS[2]) == 1 then
        redis.call('incrby', KEYS[2], cost)
    else
        redis.call('set', KEYS[2], cost, 'PX', expiry * 2)
    end
    allowed = 1
end
local p_count, p_ttl, c_count, c_ttl = state()
return {allowed, p_count, p_ttl, c_count, c_ttl}
"""


@dataclass(frozen=True)
class MovingWindow:
    """A moving window after a hit: whether it was counted, and the window's entries."""

    allowed: bool
    oldest: float | None  # Unix time of the oldest entry still in the window
    count: int


@dataclass(frozen=True)
class SlidingWindow:
    """A sliding-window counter after a spend, as `limits`' get_sliding_window reads it."""

    allowed: bool
    previous_count: int
    previous_expires_in: float  # seconds
    current_count: int
    current_expires_in: float  # seconds


class RedisWindows:
    """The two scripts on one client; keys are `limits`' keys under `key_prefix`."""

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._prefix = key_prefix
        self._hit = redis.register_script(_HIT_MOVING_WINDOW)
        self._spend = redis.register_script(_SPEND_SLIDING_WINDOW)

    async def hit(
        self, key: str, limit: int, expiry: int, now: float, cost: int = 1
    ) -> MovingWindow:
        """Count `cost` entries in the moving window `key` if the window has room for all."""
        allowed, oldest, count = await self._hit(
            keys=[f"{self._prefix}:{key}"], args=[repr(now), limit, expiry, cost]
        )
        return MovingWindow(bool(allowed), None if oldest is None else float(oldest), count)

    async def spend(self, key: str, limit: int, expiry: int, cost: int) -> SlidingWindow:
        """Add `cost` to the sliding-window counter `key` if the weighted count has room."""
        current = f"{self._prefix}:{{{key}}}"
        allowed, previous_count, previous_ttl, current_count, current_ttl = await self._spend(
            keys=[f"{current}/-1", current], args=[limit, expiry, cost]
        )
        return SlidingWindow(
            bool(allowed),
            int(previous_count),
            int(previous_ttl) / 1000,
            int(current_count),
            int(current_ttl) / 1000,
        )

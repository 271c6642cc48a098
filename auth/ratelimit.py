"""Rate limits: requests per user by tier, and failed sign-ins per username and per client IP.

Counting uses the `limits` library's moving-window strategy: a hit is allowed when fewer
than `amount` hits were counted in the window of time that ends now, and only allowed hits
are counted. Counts live in this process by default and in Redis when REDIS_URL is set
(through redis-py's asyncio client, keys under `{key_prefix}ratelimit:`), so every server
process shares them. Redis failures surface as `ServiceUnavailable`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.util import WindowStats
from redis.asyncio import Redis

from core.enums import Tier
from core.settings import Settings
from core.tasks import cancel_and_wait
from db.rate_windows import MovingWindow, RedisWindows, SlidingWindow
from db.redis_client import open_redis, unavailable_on_redis_error

TIER_LIMITS: Final[Mapping[Tier, RateLimitItem | None]] = MappingProxyType(
    {
        Tier.BASIC: RateLimitItemPerHour(100),
        Tier.ADVANCED: RateLimitItemPerHour(1000),
        Tier.ENTERPRISE: None,  # unlimited: never counted
        Tier.RESEARCH: RateLimitItemPerHour(1000),
    }
)
"""Requests a user of each tier may make in any moving hour; None means unlimited."""

LOGIN_ATTEMPTS_PER_USERNAME: Final = RateLimitItemPerMinute(5)
"""Failed sign-ins allowed for one username in any moving minute, whatever the client."""

LOGIN_ATTEMPTS_PER_IP: Final = RateLimitItemPerMinute(20)
"""Failed sign-ins allowed from one client IP in any moving minute, whatever the username."""

TIER_NAMESPACE = "tier"
COST_NAMESPACE: Final = "query-cost"  # the hourly query-cost budgets (schema/limits.py)
UNLIMITED_REMAINING = -1
STORE = "rate limiter"  # named in ServiceUnavailable errors


@dataclass(frozen=True)
class RateDecision:
    """The outcome of a rate-limit hit or check.

    `retry_after_seconds`: whole seconds until the window has room again; at least 1 when
    refused, 0 when allowed. `remaining`: hits still allowed in the current window after
    this one (never negative), or UNLIMITED_REMAINING (-1) when no limit applies.
    `limit`: the window's capacity, None when unlimited.
    """

    allowed: bool
    retry_after_seconds: int
    remaining: int
    limit: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.limit is None


def cost_budgets(settings: Settings) -> dict[Tier | None, int]:
    """The hourly query-cost budget of each tier (None: anonymous, per IP); 0 is unlimited."""
    return {
        Tier.BASIC: settings.query_cost_budget_basic,
        Tier.ADVANCED: settings.query_cost_budget_advanced,
        Tier.RESEARCH: settings.query_cost_budget_research,
        Tier.ENTERPRISE: settings.query_cost_budget_enterprise,
        None: settings.query_cost_budget_anonymous,
    }


def budget_limit(settings: Settings, tier: Tier | None) -> RateLimitItemPerHour | None:
    """The hourly cost budget of a tier (None: anonymous callers), None when unlimited."""
    budget = cost_budgets(settings)[tier]
    return RateLimitItemPerHour(budget) if budget else None


UNLIMITED = RateDecision(
    allowed=True, retry_after_seconds=0, remaining=UNLIMITED_REMAINING, limit=None
)


def _decision(allowed: bool, stats: WindowStats, limit: RateLimitItem) -> RateDecision:
    """Build a decision from the window after the hit; `stats.reset_time` is a Unix time."""
    retry_after = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
    return RateDecision(
        allowed=allowed,
        retry_after_seconds=retry_after,
        remaining=max(0, stats.remaining),
        limit=limit.amount,
    )


def _moving_stats(window: MovingWindow, limit: RateLimitItem, now: float) -> WindowStats:
    """What `MovingWindowRateLimiter.get_window_stats` would say of `window`."""
    start = now if window.oldest is None else window.oldest
    return WindowStats(start + limit.get_expiry(), limit.amount - window.count)


def _sliding_stats(window: SlidingWindow, limit: RateLimitItem) -> WindowStats:
    """What `SlidingWindowCounterRateLimiter.get_window_stats` would say of `window`."""
    expiry = limit.get_expiry()
    weighted = window.previous_count * window.previous_expires_in / expiry + window.current_count
    remaining = max(0, limit.amount - math.floor(weighted))
    now = time.time()
    previous_reset_in = current_reset_in = math.inf
    if window.previous_count:
        previous_reset_in = window.previous_expires_in % (expiry / window.previous_count)
    if window.current_count:
        current_reset_in = window.current_expires_in % expiry
    if math.isinf(min(previous_reset_in, current_reset_in)):
        return WindowStats(now, remaining)
    return WindowStats(now + min(previous_reset_in, current_reset_in), remaining)


def _limits_uri(redis_url: str) -> str:
    """The URL as `limits` expects it: it reads a bare `unix://` as a Valkey URL."""
    return f"redis+{redis_url}" if redis_url.startswith("unix://") else redis_url


class RateLimiter:
    """Moving-window limits over in-process or Redis storage; `create` picks by URL."""

    def __init__(
        self,
        storage: MemoryStorage | RedisStorage,
        redis: Redis | None = None,
        key_prefix: str = "",
    ) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._budget_strategy = SlidingWindowCounterRateLimiter(storage)
        self._redis = redis
        # Hits and spends in one round trip each; `limits` reads and clears the same keys.
        self._windows = None if redis is None else RedisWindows(redis, key_prefix)
        self.backend = "memory" if redis is None else "redis"
        # Refused hits and checks by namespace, since start (/metrics).
        self.refusals: Counter[str] = Counter()

    @classmethod
    async def create(cls, redis_url: str, key_prefix: str) -> RateLimiter:
        """In-process when `redis_url` is empty; else Redis, with keys under the prefix.

        The Redis client is this limiter's own (closed by `close`); `limits` drives it
        through its redis-py bridge (`implementation="redispy"`), so coredis is not needed.
        Opening does no I/O: a Redis that is down shows in `ping` and on the first hit.
        """
        if not redis_url:
            return cls(MemoryStorage())
        redis = open_redis(redis_url)
        # `limits` types its options as scalars, but passes them on to redis-py's client.
        shared: dict[str, Any] = {"connection_pool": redis.connection_pool}
        storage = RedisStorage(
            _limits_uri(redis_url),
            implementation="redispy",
            key_prefix=f"{key_prefix}ratelimit",
            **shared,
        )
        return cls(storage, redis, f"{key_prefix}ratelimit")

    async def hit(
        self, namespace: str, key: str, limit: RateLimitItem, cost: int = 1
    ) -> RateDecision:
        """Count `cost` hits for `key` in `namespace` if the limit allows all of them.

        A refused hit is not counted, so a client that keeps retrying while refused gets
        through as soon as the window has room.
        """
        with unavailable_on_redis_error(STORE, StorageError):
            if self._windows is None:
                allowed = await self._strategy.hit(limit, namespace, key, cost=cost)
                stats = await self._strategy.get_window_stats(limit, namespace, key)
            else:
                now = time.time()
                window = await self._windows.hit(
                    limit.key_for(namespace, key), limit.amount, limit.get_expiry(), now, cost
                )
                allowed, stats = window.allowed, _moving_stats(window, limit, now)
        if not allowed:
            self.refusals[namespace] += 1
        return _decision(allowed, stats, limit)

    async def check(self, namespace: str, key: str, limit: RateLimitItem) -> RateDecision:
        """Whether a hit would be allowed now, without counting one."""
        with unavailable_on_redis_error(STORE, StorageError):
            stats = await self._strategy.get_window_stats(limit, namespace, key)
        if stats.remaining < 1:
            self.refusals[namespace] += 1
        return _decision(stats.remaining >= 1, stats, limit)

    async def hit_tier(self, user_id: str, tier: Tier, operations: int = 1) -> RateDecision:
        """Count `operations` consciousness operations of a user against their tier's limit
        (a `process` call is one, an ingested GenAI span one each), all or none.

        Unlimited tiers are always allowed and never touch the storage.
        """
        limit = TIER_LIMITS[tier]
        if limit is None:
            return UNLIMITED
        return await self.hit(TIER_NAMESPACE, user_id, limit, operations)

    async def spend(
        self, namespace: str, key: str, limit: RateLimitItem, cost: int
    ) -> RateDecision:
        """Deduct `cost` units from `key`'s budget when the window has room for all of them.

        Budgets (query cost per hour) are counted with the sliding-window counter, not the
        moving window: the moving window keeps one entry per unit, so a budget of a million
        units would keep up to a million entries per user. The counter keeps two numbers per
        key and weights the previous window by how much of it still overlaps the last hour.
        A refused spend deducts nothing.
        """
        cost = max(1, cost)
        with unavailable_on_redis_error(STORE, StorageError):
            if self._windows is None:
                allowed = await self._budget_strategy.hit(limit, namespace, key, cost=cost)
                stats = await self._budget_strategy.get_window_stats(limit, namespace, key)
            else:
                window = await self._windows.spend(
                    limit.key_for(namespace, key), limit.amount, limit.get_expiry(), cost
                )
                allowed, stats = window.allowed, _sliding_stats(window, limit)
        if not allowed:
            self.refusals[namespace] += 1
        return _decision(allowed, stats, limit)

    async def reset_budget(self, namespace: str, key: str, limit: RateLimitItem) -> None:
        """Forget what `key` spent of a budget counted by `spend`."""
        with unavailable_on_redis_error(STORE, StorageError):
            await self._budget_strategy.clear(limit, namespace, key)

    async def reset(self, namespace: str, key: str, limit: RateLimitItem) -> None:
        """Forget every hit counted for `key` in `namespace` under `limit`."""
        with unavailable_on_redis_error(STORE, StorageError):
            await self._strategy.clear(limit, namespace, key)

    async def clear(self) -> None:
        """Forget every count this limiter holds (in Redis: only keys under its prefix)."""
        with unavailable_on_redis_error(STORE, StorageError):
            await self._storage.reset()

    async def ping(self) -> float:
        """Round-trip time of a Redis PING in milliseconds; 0 for in-process storage."""
        if self._redis is None:
            return 0.0
        started = time.perf_counter()
        with unavailable_on_redis_error(STORE, StorageError):
            await self._redis.ping()
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        """Close the Redis client, or drop the in-process counts and their expiry task."""
        if self._redis is not None:
            await self._redis.aclose()
            return
        if isinstance(self._storage, MemoryStorage):
            await self._storage.reset()
            timer = self._storage.timer
            if timer is not None and not timer.done():
                await cancel_and_wait(timer)

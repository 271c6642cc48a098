"""Automatic persisted queries (Apollo APQ): documents by their sha256, bounded.

In-process: an LRU of at most `max_entries` documents, each forgotten after its TTL.
Redis (when REDIS_URL is set): one key per document under `{key_prefix}apq:`, each with
the TTL, so every server process shares them and Redis's own memory policy applies.
Both stores are bounded by the entry count (or TTL) times the largest accepted document
(MAX_QUERY_BYTES): the caller never stores a larger one. Redis failures surface as
`ServiceUnavailable`.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from redis.asyncio import Redis

from db.redis_client import unavailable_on_redis_error

STORE = "persisted query store"  # named in ServiceUnavailable errors


class InProcessPersistedQueryStore:
    """Documents in this process's memory: an LRU of `max_entries`, each with a TTL."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000, ttl_seconds: float = 86_400) -> None:
        if max_entries <= 0 or ttl_seconds <= 0:
            raise ValueError("max_entries and ttl_seconds must be positive")
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_seconds = ttl_seconds

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, sha256: str) -> str | None:
        entry = self._entries.get(sha256)
        if entry is None:
            return None
        document, expires_at = entry
        if expires_at <= time.monotonic():
            del self._entries[sha256]
            return None
        self._entries.move_to_end(sha256)
        return document

    async def put(self, sha256: str, document: str) -> None:
        self._entries[sha256] = (document, time.monotonic() + self._ttl_seconds)
        self._entries.move_to_end(sha256)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        self._entries.clear()


class RedisPersistedQueryStore:
    """Documents in Redis under `{key_prefix}apq:<sha256>`, each expiring after the TTL.

    Uses the process's Redis client and does not close it: its owner does.
    """

    backend = "redis"

    def __init__(self, redis: Redis, key_prefix: str, ttl_seconds: float = 86_400) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}apq:"
        self._ttl_ms = max(1, round(ttl_seconds * 1000))

    async def get(self, sha256: str) -> str | None:
        with unavailable_on_redis_error(STORE):
            value = await self._redis.get(self._prefix + sha256)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, sha256: str, document: str) -> None:
        with unavailable_on_redis_error(STORE):
            await self._redis.set(self._prefix + sha256, document.encode(), px=self._ttl_ms)

    async def close(self) -> None:
        """Nothing to release: the shared Redis client is closed by its owner."""


PersistedQueryStore = InProcessPersistedQueryStore | RedisPersistedQueryStore

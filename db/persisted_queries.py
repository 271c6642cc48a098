"""Automatic persisted queries (Apollo APQ): documents by their sha256, bounded.

Both stores are bounded in bytes of document text (PERSISTED_QUERY_CACHE_BYTES), the least
recently used going first, and forget a document unused for the TTL: in process, an LRU;
with Redis (when REDIS_URL is set), keys under `{key_prefix}apq:` with a recency index and
a byte total kept by one script per call, shared by every server process. Only
authenticated callers register documents (server/persisted.py). Redis failures surface as
`ServiceUnavailable`.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from core.lru import LRU
from db.redis_client import unavailable_on_redis_error

STORE = "persisted query store"  # named in ServiceUnavailable errors


def _document_bytes(entry: tuple[str, float]) -> int:
    return len(entry[0].encode())


class InProcessPersistedQueryStore:
    """Documents in this process's memory: an LRU of at most `max_bytes` of text, each
    forgotten after its TTL."""

    backend = "memory"

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, ttl_seconds: float = 86_400) -> None:
        if max_bytes <= 0 or ttl_seconds <= 0:
            raise ValueError("max_bytes and ttl_seconds must be positive")
        self._entries: LRU[str, tuple[str, float]] = LRU(max_bytes, _document_bytes)
        self._ttl_seconds = ttl_seconds

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, sha256: str) -> str | None:
        entry = self._entries.get(sha256)
        if entry is None:
            return None
        document, expires_at = entry
        if expires_at <= time.monotonic():
            self._entries.pop(sha256)
            return None
        return document

    async def put(self, sha256: str, document: str) -> None:
        # Larger than the whole cache: not kept (the request still runs).
        self._entries.put(sha256, (document, time.monotonic() + self._ttl_seconds))

    async def bytes_used(self) -> int:
        return self._entries.weight

    async def close(self) -> None:
        self._entries.clear()


# Recency is Redis's own clock in microseconds, made strictly increasing, so every process
# agrees on the order and two uses in the same microsecond are still ordered.
_STAMP_LUA = """
local function stamp()
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
    if last and tonumber(last) >= now then
        now = tonumber(last) + 1
    end
    return now
end
"""

# KEYS[1] the document, KEYS[2] the recency index (sorted set: sha256 -> last use, us),
# KEYS[3] the byte total, KEYS[4] the prefix of document keys; ARGV[1] sha256, ARGV[2] the
# document, ARGV[3] the TTL (us), ARGV[4] the byte budget. Entries unused for the TTL go
# first, then the least recently used until the total fits the budget.
_PUT_LUA = (
    _STAMP_LUA
    + """
local size = string.len(ARGV[2])
local budget = tonumber(ARGV[4])
if size > budget then
    return 0
end
local function drop(sha)
    local key = KEYS[4] .. sha
    redis.call('DECRBY', KEYS[3], redis.call('STRLEN', key))
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], sha)
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    drop(ARGV[1])
end
local now = stamp()
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
for _, sha in ipairs(stale) do
    drop(sha)
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local total = redis.call('INCRBY', KEYS[3], size)
while total > budget do
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    drop(oldest)
    total = tonumber(redis.call('GET', KEYS[3]))
end
return 1
"""
)

# KEYS[1] the document, KEYS[2] the recency index; ARGV[1] sha256, ARGV[2] the TTL (us). A
# document unused for the TTL is not answered (the next put drops it).
_GET_LUA = (
    _STAMP_LUA
    + """
local used = redis.call('ZSCORE', KEYS[2], ARGV[1])
local now = stamp()
if not used or tonumber(used) <= now - tonumber(ARGV[2]) then
    return nil
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
return redis.call('GET', KEYS[1])
"""
)


class RedisPersistedQueryStore:
    """Documents in Redis under `{key_prefix}apq:`, shared by every server process: at most
    `max_bytes` of text in all (least recently used first out), each until unused for the
    TTL. The index and the byte total live beside them; each put or get is one script.

    Uses the process's Redis client and does not close it: its owner does.
    """

    backend = "redis"

    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        max_bytes: int = 16 * 1024 * 1024,
        ttl_seconds: float = 86_400,
    ) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}apq:"
        self._index = f"{key_prefix}apq-index"
        self._total = f"{key_prefix}apq-bytes"
        self._max_bytes = max_bytes
        self._ttl_us = max(1, round(ttl_seconds * 1_000_000))
        self._put = redis.register_script(_PUT_LUA)
        self._get = redis.register_script(_GET_LUA)

    async def get(self, sha256: str) -> str | None:
        with unavailable_on_redis_error(STORE):
            value = await self._get(
                keys=[self._prefix + sha256, self._index],
                args=[sha256, self._ttl_us],
            )
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, sha256: str, document: str) -> None:
        with unavailable_on_redis_error(STORE):
            await self._put(
                keys=[self._prefix + sha256, self._index, self._total, self._prefix],
                args=[sha256, document.encode(), self._ttl_us, self._max_bytes],
            )

    async def bytes_used(self) -> int:
        with unavailable_on_redis_error(STORE):
            return int(await self._redis.get(self._total) or 0)

    async def close(self) -> None:
        """Nothing to release: the shared Redis client is closed by its owner."""


PersistedQueryStore = InProcessPersistedQueryStore | RedisPersistedQueryStore

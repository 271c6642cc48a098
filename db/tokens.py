"""Refresh tokens and revocations: in-process by default, Redis when REDIS_URL is set.

Only the sha256 of an opaque refresh token is ever stored (the caller hashes). Every entry
expires: Redis by PX, the in-process store by an expiry time checked on every read plus an
occasional sweep on write, so its memory stays proportional to the entries still alive.
Redis failures surface as `ServiceUnavailable`, never as redis-py's own exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson
from redis.asyncio import Redis

from db.redis_client import unavailable_on_redis_error
from db.revocation_mirror import RevocationMirror, cutoff_message, jti_message

SWEEP_MIN_WRITES = 1024
"""The in-process store sweeps expired entries after at least this many writes."""

STORE = "token store"  # named in ServiceUnavailable errors

V = TypeVar("V")


@dataclass(frozen=True)
class RefreshRecord:
    """What a refresh token stands for; `issued_at` is a Unix time in seconds."""

    user_id: str
    family_id: str
    issued_at: float


@dataclass(frozen=True)
class RefreshUse:
    """The outcome of spending a refresh token.

    `first_use` is False when the token had been spent before: a copy is in someone
    else's hands, and the caller should revoke the family.
    """

    record: RefreshRecord
    first_use: bool


@dataclass(frozen=True)
class AccessCheck:
    """What the store knows about an access token.

    `user_cutoff` is a Unix time in seconds: the user's tokens issued at or before it are
    no longer valid; None when there is no cutoff.
    """

    jti_revoked: bool
    user_cutoff: float | None


def _seconds(stored: bytes | str | None) -> float | None:
    return None if stored is None else float(stored)


def _ttl_ms(ttl_seconds: float) -> int:
    """A TTL in whole milliseconds (at least 1), for Redis PX and the in-process store."""
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
    return max(1, round(ttl_seconds * 1000))


class _ExpiringMap(Generic[V]):
    """A dict whose entries vanish after their TTL.

    An expired entry is dropped when read; all expired entries are swept once the writes
    since the last sweep reach half the map's size (at least SWEEP_MIN_WRITES), so the
    sweeps cost O(1) per write amortised and memory stays bounded by the live entries.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[V, float]] = {}
        self._writes_since_sweep = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, key: str) -> tuple[V, float] | None:
        """The value and its monotonic expiry time, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry

    def get(self, key: str) -> V | None:
        entry = self.entry(key)
        return None if entry is None else entry[0]

    def set(self, key: str, value: V, ttl_seconds: float, *, expires_at: float = 0.0) -> None:
        """Store `value` for `ttl_seconds`, or until `expires_at` when that is later."""
        deadline = max(time.monotonic() + _ttl_ms(ttl_seconds) / 1000, expires_at)
        self._entries[key] = (value, deadline)
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= max(SWEEP_MIN_WRITES, len(self._entries) // 2):
            self.sweep()

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._writes_since_sweep = 0

    def sweep(self) -> None:
        now = time.monotonic()
        expired = [key for key, (_, deadline) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        self._writes_since_sweep = 0


class InProcessTokenStore:
    """Tokens and revocations in this process's memory; for one-worker deployments and tests.

    Every method runs to completion without awaiting, so each is atomic on the event loop.
    """

    backend = "memory"

    def __init__(self) -> None:
        self._refresh: _ExpiringMap[RefreshRecord] = _ExpiringMap()
        self._used: _ExpiringMap[bool] = _ExpiringMap()
        self._revoked_families: _ExpiringMap[bool] = _ExpiringMap()
        self._revoked_jtis: _ExpiringMap[bool] = _ExpiringMap()
        self._user_cutoffs: _ExpiringMap[float] = _ExpiringMap()
        # Each user's refresh-token hashes, so erasing an account finds them (forget_user).
        self._user_refresh: dict[str, set[str]] = {}

    def start(self) -> None:
        """Nothing to follow: this process holds every revocation itself."""

    async def save_refresh(
        self, token_hash: str, record: RefreshRecord, ttl_seconds: float
    ) -> None:
        self._refresh.set(token_hash, record, ttl_seconds)
        known = self._user_refresh.get(record.user_id, set())
        live = {h for h in known if self._refresh.get(h) is not None}  # expired ones go
        live.add(token_hash)
        self._user_refresh[record.user_id] = live

    async def forget_user(self, user_id: str) -> int:
        """Delete every refresh token of the user (account erasure); how many there were."""
        hashes = self._user_refresh.pop(user_id, set())
        for token_hash in hashes:
            self._refresh.delete(token_hash)
            self._used.delete(token_hash)
        return len(hashes)

    async def use_refresh(self, token_hash: str, ttl_seconds: float) -> RefreshUse | None:
        """Mark the token spent; None when it is unknown or expired.

        The spent mark lives `ttl_seconds`, and at least as long as the token itself.
        """
        entry = self._refresh.entry(token_hash)
        if entry is None:
            return None
        record, expires_at = entry
        if self._used.get(token_hash) is not None:
            return RefreshUse(record, first_use=False)
        self._used.set(token_hash, True, ttl_seconds, expires_at=expires_at)
        return RefreshUse(record, first_use=True)

    async def revoke_family(self, family_id: str, ttl_seconds: float) -> None:
        self._revoked_families.set(family_id, True, ttl_seconds)

    async def is_family_revoked(self, family_id: str) -> bool:
        return self._revoked_families.get(family_id) is not None

    async def revoke_jti(self, jti: str, ttl_seconds: float) -> None:
        self._revoked_jtis.set(jti, True, ttl_seconds)

    async def revoke_user_before(self, user_id: str, timestamp: float, ttl_seconds: float) -> None:
        """Invalidate the user's tokens issued at or before `timestamp` (Unix seconds).

        An existing later cutoff, or a longer remaining TTL, is kept: a cutoff never moves back.
        """
        current = self._user_cutoffs.entry(user_id)
        if current is None:
            self._user_cutoffs.set(user_id, timestamp, ttl_seconds)
        else:
            cutoff, expires_at = current
            self._user_cutoffs.set(
                user_id, max(cutoff, timestamp), ttl_seconds, expires_at=expires_at
            )

    async def access_check(self, jti: str, user_id: str) -> AccessCheck:
        return (await self.access_checks([(jti, user_id)]))[0]

    async def access_checks(self, tokens: Sequence[tuple[str, str]]) -> list[AccessCheck]:
        """`access_check` of each (jti, user id), in order."""
        return [
            AccessCheck(
                jti_revoked=self._revoked_jtis.get(jti) is not None,
                user_cutoff=self._user_cutoffs.get(user_id),
            )
            for jti, user_id in tokens
        ]

    async def ping(self) -> float:
        """Latency in milliseconds: always 0 for memory."""
        return 0.0

    async def close(self) -> None:
        for entries in (
            self._refresh,
            self._used,
            self._revoked_families,
            self._revoked_jtis,
            self._user_cutoffs,
        ):
            entries.clear()
        self._user_refresh.clear()


# KEYS[1] the record, KEYS[2] its used-marker; ARGV[1] the marker's TTL in ms, raised to
# the record's remaining TTL. Returns nil for an unknown token, else {record, 1 on first
# use | 0 on reuse}. Unknown tokens create no marker, so guessing tokens cannot fill Redis.
_USE_REFRESH_LUA = """
local record = redis.call('GET', KEYS[1])
if not record then
    return nil
end
local ttl = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then
    ttl = left
end
local first = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl)
if first then
    return {record, 1}
end
return {record, 0}
"""

# KEYS[1] the user's cutoff; ARGV[1] the new cutoff (kept as sent, no Lua float rounding),
# ARGV[2] the TTL in ms, ARGV[3] the revocations channel, ARGV[4] the user id. A later
# existing cutoff and a longer remaining TTL both win; the result is published as
# db/revocation_mirror.py's cutoff_message.
_REVOKE_USER_BEFORE_LUA = """
local current = redis.call('GET', KEYS[1])
local value = ARGV[1]
if current and tonumber(current) > tonumber(value) then
    value = current
end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then
    ttl = left
end
redis.call('SET', KEYS[1], value, 'PX', ttl)
redis.call('PUBLISH', ARGV[3], 'cutoff ' .. ARGV[4] .. ' ' .. value .. ' ' .. ttl)
return 1
"""


class RedisTokenStore:
    """Tokens and revocations in Redis under `{key_prefix}tokens:`, shared by all processes.

    Uses the process's Redis client and does not close it: its owner does. Once `start`ed,
    revocations are answered from this process's mirror of them while it is current
    (db/revocation_mirror.py), and asked of Redis otherwise.
    """

    backend = "redis"

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}tokens:"
        self._channel = f"{self._prefix}revocations"
        self._use_refresh = redis.register_script(_USE_REFRESH_LUA)
        self._revoke_user_before = redis.register_script(_REVOKE_USER_BEFORE_LUA)
        self.mirror = RevocationMirror(redis, self._prefix, self._channel)

    def start(self) -> None:
        """Follow revocations in this process (a task on the running loop)."""
        self.mirror.start()

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}:{ident}"

    async def save_refresh(
        self, token_hash: str, record: RefreshRecord, ttl_seconds: float
    ) -> None:
        """The record, and its hash in the user's index (kept as long as the newest token)."""
        index = self._key("user-refresh", record.user_id)
        ttl = _ttl_ms(ttl_seconds)
        with unavailable_on_redis_error(STORE):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("refresh", token_hash), orjson.dumps(record), px=ttl)
                pipe.sadd(index, token_hash)
                pipe.pexpire(index, ttl)
                await pipe.execute()

    async def forget_user(self, user_id: str) -> int:
        """Delete every refresh token of the user (account erasure); how many there were."""
        index = self._key("user-refresh", user_id)
        with unavailable_on_redis_error(STORE):
            members = await self._redis.smembers(index)
            hashes = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
            keys = [index]
            for token_hash in hashes:
                keys += [self._key("refresh", token_hash), self._key("refresh-used", token_hash)]
            await self._redis.delete(*keys)
        return len(hashes)

    async def use_refresh(self, token_hash: str, ttl_seconds: float) -> RefreshUse | None:
        """Mark the token spent, atomically (one Lua script); None when unknown or expired."""
        keys = [self._key("refresh", token_hash), self._key("refresh-used", token_hash)]
        with unavailable_on_redis_error(STORE):
            result = await self._use_refresh(keys=keys, args=[_ttl_ms(ttl_seconds)])
        if result is None:
            return None
        raw, first = result
        return RefreshUse(RefreshRecord(**orjson.loads(raw)), first_use=first == 1)

    async def revoke_family(self, family_id: str, ttl_seconds: float) -> None:
        with unavailable_on_redis_error(STORE):
            await self._redis.set(
                self._key("family-revoked", family_id), b"1", px=_ttl_ms(ttl_seconds)
            )

    async def is_family_revoked(self, family_id: str) -> bool:
        with unavailable_on_redis_error(STORE):
            return bool(await self._redis.exists(self._key("family-revoked", family_id)))

    async def revoke_jti(self, jti: str, ttl_seconds: float) -> None:
        ttl = _ttl_ms(ttl_seconds)
        message = jti_message(jti, ttl)
        with unavailable_on_redis_error(STORE):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("jti-revoked", jti), b"1", px=ttl)
                pipe.publish(self._channel, message)
                await pipe.execute()
        self.mirror.apply(message)  # this process's next request must see it

    async def revoke_user_before(self, user_id: str, timestamp: float, ttl_seconds: float) -> None:
        """Invalidate the user's tokens issued at or before `timestamp` (Unix seconds).

        An existing later cutoff, or a longer remaining TTL, is kept: a cutoff never moves back.
        """
        with unavailable_on_redis_error(STORE):
            await self._revoke_user_before(
                keys=[self._key("user-cutoff", user_id)],
                args=[repr(float(timestamp)), _ttl_ms(ttl_seconds), self._channel, user_id],
            )
        self.mirror.apply(cutoff_message(user_id, repr(float(timestamp)), _ttl_ms(ttl_seconds)))

    async def access_check(self, jti: str, user_id: str) -> AccessCheck:
        """Both lookups in one MGET: this runs on every authenticated request."""
        return (await self.access_checks([(jti, user_id)]))[0]

    async def access_checks(self, tokens: Sequence[tuple[str, str]]) -> list[AccessCheck]:
        """`access_check` of each (jti, user id), in order: from the mirror while it is
        current, else all in one MGET."""
        if self.mirror.current:
            return [AccessCheck(*self.mirror.lookup(jti, user_id)) for jti, user_id in tokens]
        keys: list[str] = []
        for jti, user_id in tokens:
            keys += (self._key("jti-revoked", jti), self._key("user-cutoff", user_id))
        with unavailable_on_redis_error(STORE):
            values = await self._redis.mget(keys)
        return [
            AccessCheck(jti_revoked=revoked is not None, user_cutoff=_seconds(cutoff))
            for revoked, cutoff in zip(values[::2], values[1::2], strict=True)
        ]

    async def ping(self) -> float:
        """Round-trip time of a Redis PING, in milliseconds."""
        started = time.perf_counter()
        with unavailable_on_redis_error(STORE):
            await self._redis.ping()
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        """Stop following revocations; the shared Redis client is closed by its owner."""
        await self.mirror.stop()


TokenStore = InProcessTokenStore | RedisTokenStore

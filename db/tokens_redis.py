"""The Redis token store: entries expire by PX; revocations are published as they are
written and followed in each process (db/revocation_mirror.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from redis.asyncio import Redis

from core.lru import LRU
from db.redis_client import unavailable_on_redis_error
from db.revocation_mirror import RevocationMirror, cutoff_message, jti_message
from db.token_records import (
    STORE,
    AccessCheck,
    RefreshRecord,
    RefreshUse,
    seconds_or_none,
    ttl_ms,
)

MAX_CACHED_SIGHTINGS = 10_000  # access tokens whose last address this process remembers

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
        # Sightings this process wrote lately (jti -> (IP, monotonic time)): a token used
        # again from the same address asks Redis again only after half the window.
        self._sighted: LRU[str, tuple[str, float]] = LRU(MAX_CACHED_SIGHTINGS)

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
        ttl = ttl_ms(ttl_seconds)
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
            result = await self._use_refresh(keys=keys, args=[ttl_ms(ttl_seconds)])
        if result is None:
            return None
        raw, first = result
        return RefreshUse(RefreshRecord(**orjson.loads(raw)), first_use=first == 1)

    async def note_sighting(self, jti: str, ip: str, window_seconds: float) -> str | None:
        """Note that access token `jti` is used from `ip`; the other address it was used
        from within the last `window_seconds` (by any process), if there is one.

        One SET … GET, skipped while this process wrote the same address less than half a
        window ago: the stored sighting is then at most half a window old, so a change of
        address within half a window is always seen, and one within a window usually.
        """
        now = time.monotonic()
        cached = self._sighted.get(jti)
        if cached is not None and cached[0] == ip and now - cached[1] < window_seconds / 2:
            return None
        with unavailable_on_redis_error(STORE):
            previous = await self._redis.set(
                self._key("sighting", jti), ip, px=ttl_ms(window_seconds), get=True
            )
        self._sighted.put(jti, (ip, now))
        if previous is None:
            return None
        previous_ip = previous.decode() if isinstance(previous, bytes) else str(previous)
        return previous_ip if previous_ip != ip else None

    async def remember_access(self, family_id: str, jti: str, expires_at: float) -> None:
        """Note an access token issued in `family_id` (a hash jti -> expiry that lives as
        long as its newest token), to revoke it with the family."""
        key = self._key("family-access", family_id)
        with unavailable_on_redis_error(STORE):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, jti, repr(expires_at))
                pipe.expireat(key, int(expires_at) + 1)
                await pipe.execute()

    async def revoke_family(self, family_id: str, ttl_seconds: float) -> None:
        """No refresh token of the family works any more, nor any access token issued in it."""
        access_key = self._key("family-access", family_id)
        with unavailable_on_redis_error(STORE):
            await self._redis.set(
                self._key("family-revoked", family_id), b"1", px=ttl_ms(ttl_seconds)
            )
            issued = await self._redis.hgetall(access_key)
            now = time.time()
            for jti, expires_at in issued.items():
                left = float(expires_at) - now
                if left > 0:
                    await self.revoke_jti(jti.decode() if isinstance(jti, bytes) else jti, left)
            await self._redis.delete(access_key)

    async def is_family_revoked(self, family_id: str) -> bool:
        with unavailable_on_redis_error(STORE):
            return bool(await self._redis.exists(self._key("family-revoked", family_id)))

    async def revoke_jti(self, jti: str, ttl_seconds: float) -> None:
        ttl = ttl_ms(ttl_seconds)
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
                args=[repr(float(timestamp)), ttl_ms(ttl_seconds), self._channel, user_id],
            )
        self.mirror.apply(cutoff_message(user_id, repr(float(timestamp)), ttl_ms(ttl_seconds)))

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
            AccessCheck(jti_revoked=revoked is not None, user_cutoff=seconds_or_none(cutoff))
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

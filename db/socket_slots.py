"""Counted slots with a cap per key (a user's websockets, a client address's): in process, or
in Redis when REDIS_URL is set, so that every process of a deployment counts against one cap.

In Redis a key is a sorted set of holders, each scored by the time its lease ends (Redis's
own clock, so the servers' clocks need not agree). The holding process renews the leases of
its slots every third of LEASE_SECONDS; a slot of a process that died without giving it
back lapses within LEASE_SECONDS, so a crash frees its slots instead of keeping them taken
forever. Renewal only updates slots still present: one given back meanwhile stays gone,
and after Redis lost its data the sockets open then go uncounted until they close.
Redis failures surface as `ServiceUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid

from redis.asyncio import Redis

from core.errors import ServiceUnavailable
from core.tasks import cancel_and_wait
from db.redis_client import unavailable_on_redis_error

STORE = "socket counter"  # named in ServiceUnavailable errors
LEASE_SECONDS = 60.0

# KEYS[1] the key; ARGV[1] the cap, ARGV[2] the lease in ms, ARGV[3] the holder.
# Drops lapsed holders, then adds this one when fewer than the cap remain. 1: taken, 0: full.
_TAKE_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] the key; ARGV[1] the lease in ms, ARGV[2..] holders of this process (XX: only
# those still there).
_RENEW_LUA = """
local now = redis.call('TIME')
local until_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
    redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class _Holders:
    """Unique holder names for one store instance, and the slots it holds now."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:12]
        self._numbers = itertools.count(1)
        self.held: dict[str, set[str]] = {}

    def new(self) -> str:
        return f"{self._prefix}:{next(self._numbers)}"

    def add(self, key: str, holder: str) -> None:
        self.held.setdefault(key, set()).add(holder)

    def discard(self, key: str, holder: str) -> None:
        holders = self.held.get(key)
        if holders is not None:
            holders.discard(holder)
            if not holders:
                del self.held[key]


class InProcessSocketSlots:
    """Slots counted in this process: exact for a deployment of one worker."""

    backend = "memory"

    def __init__(self) -> None:
        self._holders = _Holders()

    def start(self) -> None:
        """Nothing to renew: the slots live as long as this process."""

    async def take(self, key: str, cap: int) -> str | None:
        """A new slot under `key` (its holder name), or None when `cap` are taken."""
        if len(self._holders.held.get(key, ())) >= cap:
            return None
        holder = self._holders.new()
        self._holders.add(key, holder)
        return holder

    async def give_back(self, key: str, holder: str) -> None:
        self._holders.discard(key, holder)

    async def close(self) -> None:
        self._holders.held.clear()


class RedisSocketSlots:
    """Slots in Redis under `{key_prefix}slots:`, shared by every process; leases renewed
    by a task of this process (`start`) until `close`."""

    backend = "redis"

    def __init__(self, redis: Redis, key_prefix: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}slots:"
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._take = redis.register_script(_TAKE_LUA)
        self._renew = redis.register_script(_RENEW_LUA)
        self._holders = _Holders()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._renew_forever(), name="socket-slot-leases")

    async def take(self, key: str, cap: int) -> str | None:
        """A new slot under `key` (its holder name), or None when `cap` are taken."""
        holder = self._holders.new()
        with unavailable_on_redis_error(STORE):
            taken = await self._take(keys=[self._prefix + key], args=[cap, self._lease_ms, holder])
        if not taken:
            return None
        self._holders.add(key, holder)
        return holder

    async def give_back(self, key: str, holder: str) -> None:
        """Free the slot; if Redis cannot be told, its lease lapses on its own."""
        self._holders.discard(key, holder)
        with contextlib.suppress(ServiceUnavailable), unavailable_on_redis_error(STORE):
            await self._redis.zrem(self._prefix + key, holder)

    async def renew(self) -> None:
        """Extend the lease of every slot this process holds, by LEASE_SECONDS from now."""
        held = [(key, list(holders)) for key, holders in self._holders.held.items()]
        if not held:
            return
        with unavailable_on_redis_error(STORE):
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, holders in held:
                    await self._renew(
                        keys=[self._prefix + key], args=[self._lease_ms, *holders], client=pipe
                    )
                await pipe.execute()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            with contextlib.suppress(ServiceUnavailable):  # logged; the next round retries
                await self.renew()

    async def close(self) -> None:
        """Stop renewing; slots not given back lapse with their leases."""
        await cancel_and_wait(self._task)
        self._task = None


SocketSlots = InProcessSocketSlots | RedisSocketSlots

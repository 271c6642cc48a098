"""Leader election for work one process of a deployment must do (the alert evaluator).

With Redis, the leader holds a lease: a key set with NX and a TTL, renewed by its holder
each cycle by one atomic script; when the holder dies, the key expires and another process
takes over within one TTL. Without Redis the deployment is one process (server/startup.py
refuses several workers on in-process stores), so that process leads.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

# Renew when we hold it, take it when nobody does; 1 when the caller holds the lease after.
_ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leadership:
    """`hold()` before each round of leader-only work: True while this process leads."""

    def __init__(self, redis: Redis | None, key: str, lease_seconds: float) -> None:
        self._redis = redis
        self._key = key
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._token = uuid.uuid4().hex

    async def hold(self) -> bool:
        """Take or renew the lease; True when this process holds it."""
        if self._redis is None:
            return True
        held = await self._redis.eval(
            _ACQUIRE_OR_RENEW, 1, self._key, self._token, str(self._lease_ms)
        )
        return bool(held)

    async def release(self) -> None:
        """Give the lease up (shutdown), so another process takes over without waiting."""
        if self._redis is not None:
            await self._redis.eval(_RELEASE, 1, self._key, self._token)

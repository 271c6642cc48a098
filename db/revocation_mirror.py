"""This process's copy of the revocations kept in Redis, so a request needs no round trip.

Every authenticated request asks whether its token was revoked. With Redis that was a
round trip per request; now each process holds the revoked token ids and the users'
cutoffs in memory, loaded at start and kept current over pub/sub: whoever revokes writes
the key and publishes the change in one step (db/tokens.py), and every mirror applies it.

The mirror answers only while it is known to be current: subscribed first, then loaded
(so nothing published during the load is missed), and heard from within
STALE_AFTER_SECONDS (a PING every PING_INTERVAL_SECONDS keeps that true on a quiet
channel). Otherwise, while it reconnects and reloads, the store asks Redis on each
request as before: a lost subscription never lets a revoked token through. Another
process sees a revocation once the message arrives (a few ms on a LAN); the revoking
process applies it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PING_INTERVAL_SECONDS = 5.0
STALE_AFTER_SECONDS = 15.0
RETRY_SECONDS = 1.0
SCAN_COUNT = 1000
SWEEP_SECONDS = 30.0
STOP_SECONDS = 2.0
READ_SECONDS = 0.1  # how long one read waits: bounds how long stopping takes


def jti_message(jti: str, ttl_ms: int) -> bytes:
    return f"jti {jti} {ttl_ms}".encode()


def cutoff_message(user_id: str, cutoff: str, ttl_ms: int) -> bytes:
    return f"cutoff {user_id} {cutoff} {ttl_ms}".encode()


class RevocationMirror:
    """Revoked jtis and user cutoffs of one token-key prefix, each until its key expires."""

    def __init__(self, redis: Redis, key_prefix: str, channel: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._channel = channel
        self._jtis: dict[str, float] = {}  # jti -> local monotonic expiry
        self._cutoffs: dict[str, tuple[float, float]] = {}  # user -> (cutoff, expiry)
        self._loaded = False
        self._heard_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._swept = 0.0

    @property
    def current(self) -> bool:
        """Whether the mirror may answer: loaded, subscribed, heard from lately."""
        return self._loaded and time.monotonic() - self._heard_at < STALE_AFTER_SECONDS

    def lookup(self, jti: str, user_id: str) -> tuple[bool, float | None]:
        """(jti revoked, the user's cutoff or None), as Redis holds them."""
        now = time.monotonic()
        expiry = self._jtis.get(jti)
        revoked = expiry is not None and expiry > now
        cutoff = self._cutoffs.get(user_id)
        return revoked, (cutoff[0] if cutoff is not None and cutoff[1] > now else None)

    def apply(self, message: bytes) -> None:
        """One published change (jti_message or cutoff_message); malformed ones are logged."""
        try:
            kind, *fields = message.decode().split(" ")
            expiry = time.monotonic() + int(fields[-1]) / 1000
            if kind == "jti":
                self._jtis[fields[0]] = max(expiry, self._jtis.get(fields[0], 0.0))
            elif kind == "cutoff":
                cutoff = float(fields[1])
                old = self._cutoffs.get(fields[0])
                if old is not None:
                    cutoff, expiry = max(cutoff, old[0]), max(expiry, old[1])
                self._cutoffs[fields[0]] = (cutoff, expiry)
            else:
                raise ValueError(kind)
        except (ValueError, IndexError, UnicodeDecodeError):
            log.warning("ignored a malformed revocation message: %r", message[:200])

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="revocation-mirror")

    async def stop(self) -> None:
        """Stop following: the reader sees the flag within READ_SECONDS and closes.

        Not by cancelling it: redis-py's get_message(timeout) can swallow a cancellation
        that meets its own timeout, after which the read hung for a minute; and neither
        closing the subscription (it waits for the reader's lock) nor its connection ends
        a pending read sooner.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        try:
            async with asyncio.timeout(STOP_SECONDS):  # not wait_for: see Stores.health
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._follow()
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                log.warning("revocation mirror lost Redis (%s); asking Redis meanwhile", exc)
            self._loaded = False
            if not self._stopping:
                await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            await self._load()
            self._loaded, self._heard_at = True, time.monotonic()
            pinged = time.monotonic()
            while not self._stopping:
                message = await pubsub.get_message(timeout=READ_SECONDS)
                now = time.monotonic()
                if message is not None:
                    self._heard_at = now
                    if message["type"] == "message":
                        self.apply(message["data"])
                if now - pinged >= PING_INTERVAL_SECONDS:
                    await pubsub.ping()
                    pinged = now
                self._sweep(now)
        finally:
            self._loaded = False
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _load(self) -> None:
        """Everything revoked now (subscribed already, so later changes arrive as messages)."""
        for kind in ("jti-revoked", "user-cutoff"):
            async for keys in self._batches(f"{self._prefix}{kind}:*"):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.get(key)
                        pipe.pttl(key)
                    values = await pipe.execute()
                for key, value, ttl in zip(keys, values[::2], values[1::2], strict=True):
                    if value is None or ttl <= 0:
                        continue  # expired between SCAN and GET
                    ident = (key.decode() if isinstance(key, bytes) else key).rsplit(":", 1)[1]
                    if kind == "jti-revoked":
                        self.apply(jti_message(ident, ttl))
                    else:
                        text = value.decode() if isinstance(value, bytes) else str(value)
                        self.apply(cutoff_message(ident, text, ttl))

    async def _batches(self, pattern: str) -> AsyncIterator[list[bytes | str]]:
        cursor = 0
        while True:
            cursor, keys = await self._redis.scan(cursor, match=pattern, count=SCAN_COUNT)
            if keys:
                yield keys
            if cursor == 0:
                return

    def _sweep(self, now: float) -> None:
        """Forget expired entries, so memory follows what Redis still holds."""
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        self._jtis = {jti: expiry for jti, expiry in self._jtis.items() if expiry > now}
        self._cutoffs = {user: entry for user, entry in self._cutoffs.items() if entry[1] > now}

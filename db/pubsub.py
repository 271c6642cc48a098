"""Publish/subscribe between server processes: Redis in production, in-process by default.

Each process holds at most one Redis subscription per topic and fans messages out to its
local subscribers through bounded queues, so a websocket never costs a Redis connection and
a slow subscriber only loses its own oldest messages (counted in `dropped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 256
Message = dict[str, Any]


class Subscription:
    """One local subscriber's bounded queue; when full, the oldest message is dropped."""

    def __init__(self, topic: str, maxsize: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.topic = topic
        self.dropped = 0
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)

    def offer(self, message: Message) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        return await self._queue.get()


class LocalFanOut:
    """The subscribers of this process, by topic."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscription]] = defaultdict(set)

    def add(self, subscription: Subscription) -> bool:
        """Register a subscriber; True when it is the topic's first."""
        subscribers = self.topics[subscription.topic]
        subscribers.add(subscription)
        return len(subscribers) == 1

    def remove(self, subscription: Subscription) -> bool:
        """Unregister a subscriber; True when it was the topic's last."""
        subscribers = self.topics.get(subscription.topic, set())
        subscribers.discard(subscription)
        if subscribers:
            return False
        self.topics.pop(subscription.topic, None)
        return True

    def deliver(self, topic: str, message: Message) -> None:
        for subscription in self.topics.get(topic, ()):
            subscription.offer(message)


class InProcessBroker:
    """Delivers to subscribers of this process only; for one-worker deployments and tests."""

    backend = "memory"

    def __init__(self) -> None:
        self._local = LocalFanOut()

    async def publish(self, topic: str, message: Message) -> None:
        self._local.deliver(topic, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(topic)
        self._local.add(subscription)
        try:
            yield subscription
        finally:
            self._local.remove(subscription)

    async def ping(self) -> float:
        return 0.0

    async def close(self) -> None:
        self._local.topics.clear()


class RedisBroker:
    """Publishes through Redis; one reader task per process relays to local subscribers."""

    backend = "redis"

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._local = LocalFanOut()
        self._pubsub: PubSub = redis.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None

    def _channel(self, topic: str) -> str:
        return f"{self._prefix}events:{topic}"

    async def publish(self, topic: str, message: Message) -> None:
        await self._redis.publish(self._channel(topic), orjson.dumps(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(topic)
        if self._local.add(subscription):
            await self._pubsub.subscribe(self._channel(topic))
            self._ensure_reader()
        try:
            yield subscription
        finally:
            if self._local.remove(subscription):
                await self._pubsub.unsubscribe(self._channel(topic))

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def _read(self) -> None:
        prefix = self._channel("")
        while self._local.topics:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            self._local.deliver(channel.removeprefix(prefix), orjson.loads(message["data"]))

    async def ping(self) -> float:
        started = time.perf_counter()
        await self._redis.ping()
        return (time.perf_counter() - started) * 1000

    async def close(self) -> None:
        self._local.topics.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


Broker = InProcessBroker | RedisBroker

"""The Redis broker when several topics get their first subscriber at nearly the same moment.

redis-py's PubSub opens its connection on its first command; a topic subscribing while the
reader's first subscribe is still connecting used to open a second connection, and the
topics confirmed on the one the reader did not read timed out. Staggered starts hit that
window in about half the trials, so the test runs several.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from redis.asyncio import Redis

from db.pubsub import RedisBroker, Subscription

TRIALS = 5
TOPICS = 6
STAGGER_SECONDS = 0.0003
STEP_SECONDS = 2


async def _trial(redis_url: str) -> list[str]:
    """The topics that received nothing, on a fresh broker."""
    redis = Redis.from_url(redis_url)
    broker = RedisBroker(redis, f"test:{uuid.uuid4().hex[:8]}:")
    topics = [f"together-{n}" for n in range(TOPICS)]
    missing = []
    try:
        async with contextlib.AsyncExitStack() as stack:

            async def subscribe(index: int, topic: str) -> Subscription:
                await asyncio.sleep(index * STAGGER_SECONDS)
                return await stack.enter_async_context(broker.subscribe(topic))

            subscriptions = await asyncio.gather(*(subscribe(i, t) for i, t in enumerate(topics)))
            for topic in topics:
                await broker.publish(topic, {"topic": topic})
            for topic, subscription in zip(topics, subscriptions, strict=True):
                try:
                    event = await asyncio.wait_for(anext(subscription), STEP_SECONDS)
                    assert event["topic"] == topic
                except TimeoutError:
                    missing.append(topic)
    finally:
        await broker.close()
        await redis.aclose()
    return missing


async def test_topics_subscribed_together_on_a_fresh_broker_all_deliver(redis_url: str) -> None:
    for _ in range(TRIALS):
        assert await _trial(redis_url) == []

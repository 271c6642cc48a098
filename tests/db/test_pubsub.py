"""The broker on both columns: delivery, topic isolation, dropping a slow subscriber's oldest."""

from __future__ import annotations

import asyncio

from db.pubsub import Event, Subscription
from db.stores import Stores


async def _next(subscription: Subscription) -> dict[str, object]:
    return (await asyncio.wait_for(anext(subscription), 5)).payload


async def test_published_message_reaches_every_subscriber_of_its_topic(stores: Stores) -> None:
    broker = stores.broker
    async with (
        broker.subscribe("agent:1") as first,
        broker.subscribe("agent:1") as second,
        broker.subscribe("agent:2") as other,
    ):
        await broker.publish("agent:1", {"n": 1})
        assert await _next(first) == {"n": 1}
        assert await _next(second) == {"n": 1}
        await broker.publish("agent:2", {"n": 2})
        assert await _next(other) == {"n": 2}


async def test_full_queue_drops_oldest_and_counts() -> None:
    subscription = Subscription("t", maxsize=2)
    for n in range(5):
        subscription.offer(Event("t", n + 1, {"n": n}))
    assert subscription.dropped == 3
    assert await _next(subscription) == {"n": 3}
    assert await _next(subscription) == {"n": 4}

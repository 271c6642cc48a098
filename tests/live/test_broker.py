"""The broker on both columns: sequences, replay with `since`, the seam, drops, reconnects."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from core.errors import ServiceUnavailable
from db.pubsub import SUBSCRIBER_QUEUE_SIZE, Broker, Event, RedisBroker, Subscription

STEP_SECONDS = 5


async def _next(subscription: Subscription) -> Event:
    return await asyncio.wait_for(anext(subscription), STEP_SECONDS)


async def _sequences(subscription: Subscription, count: int) -> list[int]:
    return [(await _next(subscription)).sequence for _ in range(count)]


async def test_each_topic_numbers_its_events_from_one(broker: Broker) -> None:
    async with broker.subscribe("a") as a, broker.subscribe("b") as b:
        assert [await broker.publish("a", {"n": n}) for n in range(3)] == [1, 2, 3]
        assert await broker.publish("b", {"n": 9}) == 1
        events = [await _next(a) for _ in range(3)]
        assert [(e.sequence, e.payload) for e in events] == [
            (1, {"n": 0}),
            (2, {"n": 1}),
            (3, {"n": 2}),
        ]
        assert (await _next(b)).payload == {"n": 9}


async def test_since_replays_the_missed_events_then_continues_live(broker: Broker) -> None:
    for n in range(5):
        await broker.publish("t", {"n": n})
    async with broker.subscribe("t", since=2) as subscription:
        await broker.publish("t", {"n": 5})
        assert await _sequences(subscription, 4) == [3, 4, 5, 6]


async def test_since_beyond_the_kept_window_shows_the_gap(broker: Broker) -> None:
    for n in range(400):  # the fixture keeps 50 (Redis: at least 50, in whole nodes of 100)
        await broker.publish("t", {"n": n})
    async with broker.subscribe("t", since=1) as subscription:
        first = (await _next(subscription)).sequence
        assert 2 < first <= 351  # a jump: the client sees what it lost


async def test_since_ahead_of_the_counter_resumes_from_now(broker: Broker) -> None:
    await broker.publish("t", {"n": 0})
    async with broker.subscribe("t", since=1000) as subscription:
        await broker.publish("t", {"n": 1})
        assert (await _next(subscription)).sequence == 2


async def test_events_published_during_the_replay_come_once_in_order(broker: Broker) -> None:
    for n in range(10):
        await broker.publish("t", {"n": n})

    async def publish_more() -> None:
        for n in range(10, 30):
            await broker.publish("t", {"n": n})

    async with contextlib.AsyncExitStack() as stack:
        publisher = asyncio.create_task(publish_more())
        subscription = await stack.enter_async_context(broker.subscribe("t", since=0))
        await publisher
        assert await _sequences(subscription, 30) == list(range(1, 31))
        await broker.publish("t", {"n": 30})
        assert (await _next(subscription)).sequence == 31


async def test_the_seam_skips_what_was_already_yielded() -> None:
    subscription = Subscription("t", after=2)
    subscription.replay(Event("t", n, {}) for n in (3, 4))
    for n in (2, 3, 4, 5):
        subscription.offer(Event("t", n, {}))
    assert await _sequences(subscription, 3) == [3, 4, 5]


async def test_slow_subscriber_loses_its_oldest_and_sees_the_gap(broker: Broker) -> None:
    total = SUBSCRIBER_QUEUE_SIZE + 44
    async with broker.subscribe("t") as slow, broker.subscribe("t") as fast:
        received: list[int] = []
        for n in range(total):
            await broker.publish("t", {"n": n})
            if (n + 1) % 50 == 0:  # the fast one keeps up, the slow one never reads
                received += await _sequences(fast, 50)
        assert received == list(range(1, total + 1))
        assert (await _next(slow)).sequence == 45
        assert slow.dropped == 44
        assert fast.dropped == 0


async def _kill_reader(redis: Redis, name: str) -> None:
    clients = await redis.client_list()
    ids = [client["id"] for client in clients if client.get("name") == name]
    assert ids, "the broker's reader connection was not found"
    for client_id in ids:
        await redis.client_kill_filter(_id=client_id)


async def test_reader_reconnects_and_catches_up_after_client_kill(
    redis_broker: RedisBroker, redis_url: str
) -> None:
    broker = redis_broker
    async with broker.subscribe("t") as subscription:
        await broker.publish("t", {"n": 1})
        assert (await _next(subscription)).sequence == 1
        admin = Redis.from_url(redis_url)
        try:
            await _kill_reader(admin, f"{broker._prefix}broker-reader")
            await broker.publish("t", {"n": 2})  # while the reader may be down
            await broker.publish("t", {"n": 3})
        finally:
            await admin.aclose()
        assert await _sequences(subscription, 2) == [2, 3]
        await broker.publish("t", {"n": 4})
        assert (await _next(subscription)).sequence == 4


async def test_unreachable_redis_fails_subscribers_instead_of_stalling(redis_url: str) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    broker = RedisBroker(dead, "test:dead:")
    try:
        with pytest.raises(ServiceUnavailable):
            await broker.publish("t", {"n": 1})
        with pytest.raises(ServiceUnavailable):
            async with broker.subscribe("t"):
                pass
    finally:
        await broker.close()
        await dead.aclose()


async def test_broken_reader_connection_that_stays_down_fails_the_subscriber(
    redis_broker: RedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = redis_broker

    async def refuse() -> None:
        raise RedisConnectionError("Connection refused")

    async with broker.subscribe("t") as subscription:
        # Every reconnect is refused from now on; then the reader's connection breaks.
        monkeypatch.setattr(broker, "_connect", refuse)
        assert broker._pubsub is not None
        assert broker._pubsub.connection is not None
        await broker._pubsub.connection.disconnect()
        with pytest.raises(ServiceUnavailable):
            await asyncio.wait_for(anext(subscription), STEP_SECONDS)


async def test_a_subscriber_cancelled_as_redis_confirms_it_stops(
    redis_broker: RedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands in the step where the confirmation wakes the subscriber ends it.

    Python 3.11's wait_for returned the confirmation and dropped such a cancel: the
    subscription lived on, and a legacy graphql-ws `stop` (which awaits the operation it
    cancels) held its socket's handler, and with it uvicorn's shutdown, for ever.
    """
    broker = redis_broker
    subscribed = asyncio.Event()

    async def subscriber() -> None:
        async with broker.subscribe("t") as subscription:
            subscribed.set()
            async for _ in subscription:
                pass

    task = asyncio.create_task(subscriber())
    handle = broker._handle

    async def cancel_on_confirmation(message: dict[str, object]) -> None:
        await handle(message)
        if message["type"] == "subscribe":
            task.cancel()  # the same step as the confirmation, as a `stop` can land

    monkeypatch.setattr(broker, "_handle", cancel_on_confirmation)
    try:
        done, _ = await asyncio.wait([task], timeout=STEP_SECONDS)
        assert done, "the cancelled subscriber is still subscribed"
        assert task.cancelled()
        assert not subscribed.is_set()
    finally:
        task.cancel()  # a subscriber left running would outlive the test

"""Events published after the request: `publish_many` and the Publisher, on both columns."""

from __future__ import annotations

import asyncio

import pytest

from db.publisher import Publisher
from db.pubsub import Broker, InProcessBroker, RedisBroker, Subscription


async def _payloads(subscription: Subscription, count: int) -> list[object]:
    return [(await asyncio.wait_for(anext(subscription), 5)).payload for _ in range(count)]


async def test_publish_many_numbers_each_topic_in_order(broker: Broker) -> None:
    async with broker.subscribe("a") as a, broker.subscribe("b") as b:
        sequences = await broker.publish_many([("a", {"n": 0}), ("b", {"n": 1}), ("a", {"n": 2})])
        assert sequences == [1, 1, 2]
        assert await broker.publish("a", {"n": 3}) == 3
        assert await _payloads(a, 3) == [{"n": 0}, {"n": 2}, {"n": 3}]
        assert await _payloads(b, 1) == [{"n": 1}]


async def test_publisher_publishes_what_was_sent_in_order(broker: Broker) -> None:
    publisher = Publisher(broker)
    async with broker.subscribe("t") as subscription:
        for n in range(0, 30, 3):
            await publisher.send([("t", {"n": n}), ("t", {"n": n + 1}), ("t", {"n": n + 2})])
        await publisher.flush()
        assert await _payloads(subscription, 30) == [{"n": n} for n in range(30)]
    await publisher.close()


async def test_closing_publishes_what_is_queued(broker: Broker) -> None:
    publisher = Publisher(broker)
    async with broker.subscribe("t") as subscription:
        await publisher.send([("t", {"n": 1}), ("t", {"n": 2})])
        await publisher.close()
        assert await _payloads(subscription, 2) == [{"n": 1}, {"n": 2}]


async def test_a_refused_batch_is_logged_and_later_ones_are_published(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broker = InProcessBroker()
    real = broker.publish_many
    calls = 0

    async def fail_once(events: list[tuple[str, dict[str, object]]]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("broker down")
        return await real(events)

    monkeypatch.setattr(broker, "publish_many", fail_once)
    publisher = Publisher(broker)
    async with broker.subscribe("t") as subscription:
        await publisher.send([("t", {"n": 1})])
        await publisher.flush()
        await publisher.send([("t", {"n": 2})])
        await publisher.flush()
        assert await _payloads(subscription, 1) == [{"n": 2}]
    assert "could not publish 1 events (first on t)" in caplog.text
    await publisher.close()


async def test_publish_many_loads_the_script_redis_does_not_know(
    redis_broker: RedisBroker,
) -> None:
    redis_broker._publish_script.sha = "0" * 40  # as after a restart without the script
    async with redis_broker.subscribe("t") as subscription:
        assert await redis_broker.publish_many([("t", {"n": 1}), ("t", {"n": 2})]) == [1, 2]
        assert await _payloads(subscription, 2) == [{"n": 1}, {"n": 2}]

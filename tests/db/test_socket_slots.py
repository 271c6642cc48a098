"""The socket counter, in process and on a real Redis: caps, giving back, leases that lapse."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.errors import ServiceUnavailable
from db.socket_slots import InProcessSocketSlots, RedisSocketSlots, SocketSlots
from tests.db.conftest import delete_keys
from tests.db.test_tokens import UNREACHABLE_REDIS_URL
from tests.support import wait_until

SHORT_LEASE_SECONDS = 0.5


@pytest.fixture
async def slots(backend: str | None) -> AsyncIterator[SocketSlots]:
    if backend is None:
        yield InProcessSocketSlots()
        return
    client = Redis.from_url(backend)
    name = f"test:{uuid.uuid4().hex}:"
    store = RedisSocketSlots(client, name)
    store.start()
    try:
        yield store
    finally:
        await store.close()
        await delete_keys(client, name)
        await client.aclose()


async def test_a_key_holds_at_most_its_cap_and_a_slot_given_back_is_free_again(
    slots: SocketSlots,
) -> None:
    first = await slots.take("user:a", 2)
    second = await slots.take("user:a", 2)
    assert None not in (first, second)
    assert first != second
    assert await slots.take("user:a", 2) is None
    assert await slots.take("user:b", 2) is not None  # another key, another count
    assert first is not None
    await slots.give_back("user:a", first)
    assert await slots.take("user:a", 2) is not None
    assert await slots.take("user:a", 2) is None


async def test_concurrent_takes_never_exceed_the_cap(slots: SocketSlots) -> None:
    taken = await asyncio.gather(*(slots.take("ip:10.0.0.1", 5) for _ in range(30)))
    assert sum(holder is not None for holder in taken) == 5


async def test_processes_sharing_redis_count_against_one_cap(
    redis_client: Redis, prefix: str
) -> None:
    one, other = RedisSocketSlots(redis_client, prefix), RedisSocketSlots(redis_client, prefix)
    held = await one.take("user:a", 2)
    assert held is not None
    assert await other.take("user:a", 2) is not None
    assert await one.take("user:a", 2) is None
    assert await other.take("user:a", 2) is None
    await one.give_back("user:a", held)
    assert await other.take("user:a", 2) is not None


async def test_the_slots_of_a_process_that_died_lapse_with_their_lease(
    redis_client: Redis, prefix: str
) -> None:
    """A process that dies gives nothing back; its slots must not stay taken forever."""
    died = RedisSocketSlots(redis_client, prefix, lease_seconds=SHORT_LEASE_SECONDS)
    assert await died.take("user:a", 1) is not None  # never renewed, never given back
    alive = RedisSocketSlots(redis_client, prefix, lease_seconds=SHORT_LEASE_SECONDS)
    assert await alive.take("user:a", 1) is None

    async def free() -> bool:
        return await alive.take("user:a", 1) is not None

    await wait_until(free, "the dead process's slot lapses")


async def test_a_running_process_keeps_its_slots_past_the_lease(
    redis_client: Redis, prefix: str
) -> None:
    holder = RedisSocketSlots(redis_client, prefix, lease_seconds=SHORT_LEASE_SECONDS)
    holder.start()
    try:
        assert await holder.take("user:a", 1) is not None
        other = RedisSocketSlots(redis_client, prefix)
        # Real time, as Redis keeps it: three leases long, renewed every third of one.
        await asyncio.sleep(SHORT_LEASE_SECONDS * 3)
        assert await other.take("user:a", 1) is None
    finally:
        await holder.close()


async def test_an_unreachable_redis_is_service_unavailable() -> None:
    client = Redis.from_url(UNREACHABLE_REDIS_URL)
    store = RedisSocketSlots(client, "test:unreachable:")
    try:
        with pytest.raises(ServiceUnavailable, match="socket counter unavailable"):
            await store.take("user:a", 1)
        await store.give_back("user:a", "gone")  # logged; the lease would lapse on its own
    finally:
        await client.aclose()

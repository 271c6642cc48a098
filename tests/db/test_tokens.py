"""The token store, in-process and on a real Redis: refresh rotation, revocations, expiry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from db.tokens import (
    AccessCheck,
    InProcessTokenStore,
    RedisTokenStore,
    RefreshRecord,
    TokenStore,
)
from db.tokens_local import SWEEP_MIN_WRITES, _ExpiringMap
from tests.db.conftest import delete_keys
from tests.support import wait_until

LONG_TTL = 60
SHORT_TTL = 1
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


def record(user_id: str = "u1", family_id: str = "f1") -> RefreshRecord:
    return RefreshRecord(user_id=user_id, family_id=family_id, issued_at=time.time())


@pytest.fixture
async def store(backend: str | None) -> AsyncIterator[TokenStore]:
    if backend is None:
        memory = InProcessTokenStore()
        yield memory
        await memory.close()
        return
    client = Redis.from_url(backend)
    prefix = f"test:{uuid.uuid4().hex}:"
    try:
        yield RedisTokenStore(client, prefix)
    finally:
        await delete_keys(client, prefix)
        await client.aclose()


async def test_refresh_token_is_first_used_once_then_reported_as_reused(
    store: TokenStore,
) -> None:
    saved = record()
    await store.save_refresh("hash-1", saved, LONG_TTL)

    first = await store.use_refresh("hash-1", LONG_TTL)
    again = await store.use_refresh("hash-1", LONG_TTL)

    assert first is not None
    assert first.first_use
    assert first.record == saved  # the float issued_at survives storage exactly
    assert again is not None
    assert not again.first_use
    assert again.record == saved


async def test_unknown_refresh_token_is_none(store: TokenStore) -> None:
    await store.save_refresh("known", record(), LONG_TTL)
    assert await store.use_refresh("unknown", LONG_TTL) is None
    assert await store.use_refresh("unknown", LONG_TTL) is None


async def test_unknown_refresh_token_leaves_nothing_in_redis(redis_client: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    store = RedisTokenStore(redis_client, prefix)
    try:
        assert await store.use_refresh("guessed", LONG_TTL) is None
        assert [key async for key in redis_client.scan_iter(match=f"{prefix}*")] == []
    finally:
        await delete_keys(redis_client, prefix)


async def test_concurrent_uses_have_exactly_one_first_use(store: TokenStore) -> None:
    await store.save_refresh("contested", record(), LONG_TTL)

    uses = await asyncio.gather(*(store.use_refresh("contested", LONG_TTL) for _ in range(20)))

    assert all(use is not None for use in uses)
    assert sum(1 for use in uses if use is not None and use.first_use) == 1


async def test_family_revocation_is_per_family(store: TokenStore) -> None:
    await store.revoke_family("stolen", LONG_TTL)
    assert await store.is_family_revoked("stolen")
    assert not await store.is_family_revoked("other")


async def test_revoked_jti_shows_in_access_check(store: TokenStore) -> None:
    await store.revoke_jti("jti-logged-out", LONG_TTL)
    assert await store.access_check("jti-logged-out", "u1") == AccessCheck(True, None)
    assert await store.access_check("jti-live", "u1") == AccessCheck(False, None)


async def test_user_cutoff_is_exact_and_per_user(store: TokenStore) -> None:
    cutoff = time.time()
    await store.revoke_user_before("u1", cutoff, LONG_TTL)

    assert (await store.access_check("any", "u1")).user_cutoff == cutoff
    assert (await store.access_check("any", "u2")).user_cutoff is None


async def test_user_cutoff_never_moves_back(store: TokenStore) -> None:
    later = time.time()
    await store.revoke_user_before("u1", later, LONG_TTL)
    await store.revoke_user_before("u1", later - 10, LONG_TTL)
    assert (await store.access_check("any", "u1")).user_cutoff == later

    latest = later + 0.001
    await store.revoke_user_before("u1", latest, LONG_TTL)
    assert (await store.access_check("any", "u1")).user_cutoff == latest


async def test_every_entry_expires_after_its_ttl(store: TokenStore) -> None:
    await store.save_refresh("short", record(), SHORT_TTL)
    await store.save_refresh("long", record(), LONG_TTL)
    await store.save_refresh("spent", record(), SHORT_TTL)
    assert (use := await store.use_refresh("spent", SHORT_TTL)) is not None
    assert use.first_use
    await store.revoke_family("f-short", SHORT_TTL)
    await store.revoke_family("f-long", LONG_TTL)
    await store.revoke_jti("j-short", SHORT_TTL)
    await store.revoke_jti("j-long", LONG_TTL)
    await store.revoke_user_before("u-short", time.time(), SHORT_TTL)
    await store.revoke_user_before("u-kept", time.time(), LONG_TTL)
    await store.revoke_user_before("u-kept", time.time(), SHORT_TTL)  # cannot shorten it
    before = await store.access_check("j-short", "u-short")
    assert before.jti_revoked
    assert before.user_cutoff is not None

    async def short_ones_expired() -> bool:  # the last written with SHORT_TTL
        return await store.access_check("j-short", "u-short") == AccessCheck(False, None)

    await wait_until(short_ones_expired, "the short-lived entries expire", SHORT_TTL + 5)

    assert await store.use_refresh("short", LONG_TTL) is None
    assert await store.use_refresh("spent", LONG_TTL) is None
    long_use = await store.use_refresh("long", LONG_TTL)
    assert long_use is not None
    assert long_use.first_use
    assert not await store.is_family_revoked("f-short")
    assert await store.is_family_revoked("f-long")
    assert await store.access_check("j-short", "u-short") == AccessCheck(False, None)
    assert (await store.access_check("j-long", "u-kept")).jti_revoked
    assert (await store.access_check("j-long", "u-kept")).user_cutoff is not None


async def test_access_checks_answer_each_token_in_order(store: TokenStore) -> None:
    await store.revoke_jti("gone", LONG_TTL)
    await store.revoke_user_before("u1", 50.0, LONG_TTL)
    checks = await store.access_checks([("live", "u2"), ("gone", "u2"), ("live", "u1")])
    assert checks == [AccessCheck(False, None), AccessCheck(True, None), AccessCheck(False, 50.0)]
    assert await store.access_checks([]) == []


async def test_access_check_is_one_mget(
    redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    store = RedisTokenStore(redis_client, prefix)
    commands: list[str] = []
    send: Callable[..., Awaitable[Any]] = redis_client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]).upper())
        return await send(*args, **options)

    try:
        await store.revoke_jti("j", LONG_TTL)
        await store.revoke_user_before("u", 123.5, LONG_TTL)
        monkeypatch.setattr(redis_client, "execute_command", counting)
        assert await store.access_check("j", "u") == AccessCheck(True, 123.5)
        assert commands == ["MGET"]
        pairs = [("j", "other"), ("live", "u"), ("live", "other")]
        assert await store.access_checks(pairs) == [
            AccessCheck(True, None),
            AccessCheck(False, 123.5),
            AccessCheck(False, None),
        ]
        assert commands == ["MGET", "MGET"]  # any number of tokens: one MGET
    finally:
        monkeypatch.undo()
        await delete_keys(redis_client, prefix)


async def test_redis_errors_become_service_unavailable() -> None:
    client = Redis.from_url(UNREACHABLE_REDIS_URL)
    store = RedisTokenStore(client, "test:unreachable:")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.save_refresh("h", record(), LONG_TTL),
        lambda: store.use_refresh("h", LONG_TTL),
        lambda: store.revoke_family("f", LONG_TTL),
        lambda: store.is_family_revoked("f"),
        lambda: store.revoke_jti("j", LONG_TTL),
        lambda: store.revoke_user_before("u", time.time(), LONG_TTL),
        lambda: store.access_check("j", "u"),
        store.ping,
    ]
    try:
        for call in calls:
            with pytest.raises(ServiceUnavailable) as raised:
                await call()
            assert isinstance(raised.value.__cause__, RedisError | OSError)
    finally:
        await client.aclose()


async def test_close_leaves_the_shared_redis_client_open(redis_client: Redis) -> None:
    store = RedisTokenStore(redis_client, f"test:{uuid.uuid4().hex}:")
    assert store.backend == "redis"
    assert await store.ping() >= 0
    await store.close()
    assert await redis_client.ping()


async def test_in_process_store_forgets_everything_on_close() -> None:
    store = InProcessTokenStore()
    assert store.backend == "memory"
    await store.save_refresh("h", record(), LONG_TTL)
    await store.close()
    assert await store.use_refresh("h", LONG_TTL) is None


async def test_non_positive_ttl_is_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await store.revoke_jti("j", 0)


async def test_in_process_map_sweeps_expired_entries_so_memory_stays_bounded() -> None:
    entries: _ExpiringMap[int] = _ExpiringMap()
    expiring = SWEEP_MIN_WRITES - 10
    for n in range(expiring):
        entries.set(f"gone-{n}", n, 0.001)
    last = f"gone-{expiring - 1}"
    await wait_until(lambda: entries.get(last) is None, "the last 1 ms entry expires")
    for n in range(10):  # the write that reaches SWEEP_MIN_WRITES sweeps the expired ones
        entries.set(f"live-{n}", n, LONG_TTL)
    assert len(entries) == 10
    assert entries.get("live-0") == 0
    assert entries.get("gone-0") is None

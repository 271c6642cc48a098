"""The rate limiter, in-process and on a real Redis: tier limits and sign-in throttling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerSecond
from redis.asyncio import Redis

from auth.ratelimit import (
    LOGIN_ATTEMPTS_PER_IP,
    LOGIN_ATTEMPTS_PER_USERNAME,
    TIER_LIMITS,
    TIER_NAMESPACE,
    UNLIMITED_REMAINING,
    RateLimiter,
)
from core.enums import Tier
from core.errors import ServiceUnavailable

UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
HOUR_SECONDS = 3600


async def delete_keys(client: Redis, prefix: str) -> None:
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        await client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """'' for in-process storage, else the Redis URL (skips when Redis is down)."""
    if request.param == "memory":
        return ""
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def limiter(backend: str, key_prefix: str) -> AsyncIterator[RateLimiter]:
    created = await RateLimiter.create(backend, key_prefix)
    try:
        yield created
    finally:
        await created.close()
        if backend:
            client = Redis.from_url(backend)
            await delete_keys(client, key_prefix)
            await client.aclose()


def hour_limit(tier: Tier) -> RateLimitItem:
    limit = TIER_LIMITS[tier]
    assert limit is not None
    return limit


def test_tier_limits_are_as_documented() -> None:
    assert hour_limit(Tier.BASIC).amount == 100
    assert hour_limit(Tier.ADVANCED).amount == 1000
    assert TIER_LIMITS[Tier.RESEARCH] == TIER_LIMITS[Tier.ADVANCED]
    assert TIER_LIMITS[Tier.ENTERPRISE] is None
    assert all(
        limit is None or limit.get_expiry() == HOUR_SECONDS for limit in TIER_LIMITS.values()
    )


@pytest.mark.parametrize("tier", [Tier.BASIC, Tier.RESEARCH])
async def test_tier_allows_its_limit_then_refuses_with_retry_after(
    limiter: RateLimiter, tier: Tier
) -> None:
    amount = hour_limit(tier).amount
    for n in range(amount):
        decision = await limiter.hit_tier("user-1", tier)
        assert decision.allowed
        assert decision.remaining == amount - n - 1
        assert decision.retry_after_seconds == 0

    refused = await limiter.hit_tier("user-1", tier)

    assert not refused.allowed
    assert refused.remaining == 0
    assert 1 <= refused.retry_after_seconds <= HOUR_SECONDS
    assert refused.retry_after_seconds > HOUR_SECONDS - 60  # the window opened just now
    assert (await limiter.hit_tier("user-2", tier)).allowed  # other users are apart


async def test_enterprise_is_never_limited(limiter: RateLimiter) -> None:
    for _ in range(hour_limit(Tier.BASIC).amount + 1):
        decision = await limiter.hit_tier("big-customer", Tier.ENTERPRISE)
        assert decision.allowed
        assert decision.unlimited
        assert decision.remaining == UNLIMITED_REMAINING


async def test_refused_hit_is_not_counted(limiter: RateLimiter) -> None:
    per_second = RateLimitItemPerSecond(2)
    assert (await limiter.hit("api", "k", per_second)).allowed
    assert (await limiter.hit("api", "k", per_second)).allowed
    await asyncio.sleep(0.5)
    for _ in range(3):
        refused = await limiter.hit("api", "k", per_second)
        assert not refused.allowed
        assert refused.retry_after_seconds == 1

    # The first two hits have left the window; had the refused ones counted, they would not.
    await asyncio.sleep(0.6)

    assert (await limiter.hit("api", "k", per_second)).allowed
    assert (await limiter.hit("api", "k", per_second)).allowed


async def test_check_does_not_count(limiter: RateLimiter) -> None:
    per_minute = LOGIN_ATTEMPTS_PER_USERNAME
    await limiter.hit("api", "k", per_minute)
    for _ in range(per_minute.amount + 1):
        decision = await limiter.check("api", "k", per_minute)
        assert decision.allowed
        assert decision.remaining == per_minute.amount - 1


async def test_login_throttles_username_and_ip_independently(limiter: RateLimiter) -> None:
    per_user, per_ip = LOGIN_ATTEMPTS_PER_USERNAME, LOGIN_ATTEMPTS_PER_IP
    assert per_user.amount < per_ip.amount

    async def fail_login(username: str, ip: str) -> tuple[bool, bool]:
        by_user = await limiter.hit("login-user", username, per_user)
        by_ip = await limiter.hit("login-ip", ip, per_ip)
        return by_user.allowed, by_ip.allowed

    for _ in range(per_user.amount):
        assert await fail_login("alice", "10.0.0.1") == (True, True)
    # alice's username is spent, but the address still has attempts left
    assert await fail_login("alice", "10.0.0.1") == (False, True)
    # alice from another address is still refused: the limit follows the username
    assert await fail_login("alice", "10.0.0.2") == (False, True)

    for n in range(per_ip.amount - per_user.amount - 1):
        assert await fail_login(f"guess-{n}", "10.0.0.1") == (True, True)
    # the address is spent, while a fresh username from elsewhere is not
    assert await fail_login("fresh", "10.0.0.1") == (True, False)
    assert (await limiter.check("login-ip", "10.0.0.2", per_ip)).allowed


async def test_reset_forgets_the_hits(limiter: RateLimiter) -> None:
    limit = LOGIN_ATTEMPTS_PER_USERNAME
    for _ in range(limit.amount):
        await limiter.hit("login-user", "bob", limit)
    assert not (await limiter.check("login-user", "bob", limit)).allowed

    await limiter.reset("login-user", "bob", limit)

    assert (await limiter.check("login-user", "bob", limit)).remaining == limit.amount


async def test_ping_reports_latency(limiter: RateLimiter, backend: str) -> None:
    assert limiter.backend == ("redis" if backend else "memory")
    assert await limiter.ping() >= 0


async def test_redis_keys_live_under_the_prefix(redis_url: str, key_prefix: str) -> None:
    limiter = await RateLimiter.create(redis_url, key_prefix)
    client = Redis.from_url(redis_url)
    try:
        await limiter.hit("login-ip", "10.0.0.1", LOGIN_ATTEMPTS_PER_IP)
        keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
        assert len(keys) == 1
        assert keys[0].decode().startswith(f"{key_prefix}ratelimit:")
    finally:
        await limiter.close()
        await delete_keys(client, key_prefix)
        await client.aclose()


@pytest.mark.parametrize("url", [UNREACHABLE_REDIS_URL, "unix:///nonexistent/redis.sock"])
async def test_redis_errors_become_service_unavailable(url: str) -> None:
    limiter = await RateLimiter.create(url, "test:unreachable:")
    limit = LOGIN_ATTEMPTS_PER_USERNAME
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: limiter.hit("login-user", "u", limit),
        lambda: limiter.check("login-user", "u", limit),
        lambda: limiter.hit_tier("u", Tier.BASIC),
        lambda: limiter.reset("login-user", "u", limit),
        limiter.ping,
    ]
    try:
        for call in calls:
            with pytest.raises(ServiceUnavailable):
                await call()
        # An unlimited tier is answered without asking the storage at all.
        assert (await limiter.hit_tier("u", Tier.ENTERPRISE)).allowed
    finally:
        await limiter.close()


async def test_clear_forgets_every_count_under_the_prefix_only(
    limiter: RateLimiter, backend: str
) -> None:
    other = await RateLimiter.create(backend, f"test:{uuid.uuid4().hex}:") if backend else None
    limit = LOGIN_ATTEMPTS_PER_USERNAME
    try:
        for _ in range(limit.amount):
            await limiter.hit("login-user", "carol", limit)
            await limiter.hit("login-ip", "10.0.0.9", limit)
            if other is not None:
                await other.hit("login-user", "carol", limit)

        await limiter.clear()

        assert (await limiter.check("login-user", "carol", limit)).remaining == limit.amount
        assert (await limiter.check("login-ip", "10.0.0.9", limit)).remaining == limit.amount
        if other is not None:  # another deployment sharing the Redis keeps its counts
            assert (await other.check("login-user", "carol", limit)).remaining == 0
    finally:
        if other is not None:
            await other.clear()
            await other.close()


async def test_a_budget_spends_until_the_next_cost_does_not_fit(limiter: RateLimiter) -> None:
    budget = RateLimitItemPerHour(10)
    assert (await limiter.spend("cost", "k", budget, 4)).allowed
    second = await limiter.spend("cost", "k", budget, 4)
    assert second.allowed
    assert second.remaining == 2
    refused = await limiter.spend("cost", "k", budget, 4)
    assert not refused.allowed
    assert 1 <= refused.retry_after_seconds <= HOUR_SECONDS
    last = await limiter.spend("cost", "k", budget, 2)  # the refused spend took nothing
    assert last.allowed
    assert last.remaining == 0
    await limiter.reset_budget("cost", "k", budget)
    assert (await limiter.spend("cost", "k", budget, 10)).allowed


async def test_redis_hits_and_spends_are_one_round_trip_each(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = await RateLimiter.create(redis_url, key_prefix)
    commands: list[object] = []
    real = Redis.execute_command

    async def counted(self: Redis, *args: object, **options: object) -> object:
        commands.append(args[0])
        return await real(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", counted)
    try:
        await limiter.hit_tier("warm-up", Tier.BASIC)  # Redis may not hold the scripts yet
        await limiter.spend("cost", "warm-up", RateLimitItemPerHour(100), 3)
        commands.clear()
        await limiter.hit_tier("user-1", Tier.BASIC)
        await limiter.spend("cost", "user-1", RateLimitItemPerHour(100), 3)
        assert commands == ["EVALSHA", "EVALSHA"]
        # `limits` reads the windows the scripts wrote: the same keys and algorithms.
        check = await limiter.check(TIER_NAMESPACE, "user-1", hour_limit(Tier.BASIC))
        assert check.remaining == hour_limit(Tier.BASIC).amount - 1
    finally:
        await limiter.close()
        client = Redis.from_url(redis_url)
        await delete_keys(client, key_prefix)
        await client.aclose()


async def test_a_costly_hit_counts_all_its_operations_or_none(limiter: RateLimiter) -> None:
    limit = RateLimitItemPerHour(5)
    first = await limiter.hit("costly", "ada", limit, 3)
    assert (first.allowed, first.remaining) == (True, 2)
    refused = await limiter.hit("costly", "ada", limit, 3)
    assert (refused.allowed, refused.remaining) == (False, 2)  # nothing counted
    assert refused.retry_after_seconds >= 1
    rest = await limiter.hit("costly", "ada", limit, 2)
    assert (rest.allowed, rest.remaining) == (True, 0)
    assert not (await limiter.hit("costly", "bob", limit, 6)).allowed  # over the limit itself
    assert (await limiter.hit("costly", "bob", limit)).remaining == 4

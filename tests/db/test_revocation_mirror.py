"""Revocations followed in process over Redis pub/sub: current, loaded at start, and never
trusted while they may be stale."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from db.revocation_mirror import RevocationMirror
from db.tokens import AccessCheck, RedisTokenStore
from server.app import create_app
from server.startup import prepare_stores
from tests.apps import running
from tests.conftest import empty_tables, make_settings
from tests.db.test_tokens import LONG_TTL
from tests.live.client import STEP_SECONDS
from tests.support import bearer, error_codes, graphql, register, wait_until

ME = "{ me { id } }"
LOGOUT = "mutation($t: String!) { logout(refreshToken: $t) }"


@pytest.fixture
async def two_processes(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisTokenStore, ...]]:
    """Two stores on one prefix, each with its own client, as two server processes have."""
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    stores = tuple(RedisTokenStore(client, prefix) for client in clients)
    yield stores
    for store, client in zip(stores, clients, strict=True):
        await store.close()
        await client.aclose()


async def test_a_revocation_reaches_the_other_process_mirror(
    two_processes: tuple[RedisTokenStore, RedisTokenStore],
) -> None:
    revoker, follower = two_processes
    follower.start()
    await wait_until(lambda: follower.mirror.current, "the mirror loaded")
    assert await follower.access_check("j1", "u1") == AccessCheck(False, None)
    started = time.monotonic()
    await revoker.revoke_jti("j1", LONG_TTL)
    await revoker.revoke_user_before("u1", 1234.5, LONG_TTL)
    await wait_until(lambda: follower.mirror.lookup("j1", "u1") == (True, 1234.5), "both arrived")
    assert time.monotonic() - started < 1.0  # docs/limits.md: a few ms on one machine
    assert await follower.access_check("j1", "u1") == AccessCheck(True, 1234.5)
    assert await follower.access_check("j2", "u2") == AccessCheck(False, None)


async def test_revocations_made_before_start_are_loaded(
    two_processes: tuple[RedisTokenStore, RedisTokenStore],
) -> None:
    revoker, follower = two_processes
    await revoker.revoke_jti("early", LONG_TTL)
    await revoker.revoke_user_before("someone", 99.0, LONG_TTL)
    await revoker.revoke_user_before("someone", 50.0, LONG_TTL)  # a cutoff never moves back
    follower.start()
    await wait_until(lambda: follower.mirror.current, "the mirror loaded")
    assert follower.mirror.lookup("early", "someone") == (True, 99.0)


async def test_a_mirror_that_is_not_current_is_not_asked(
    two_processes: tuple[RedisTokenStore, RedisTokenStore],
) -> None:
    revoker, follower = two_processes  # follower never started: its mirror knows nothing
    await revoker.revoke_jti("j", LONG_TTL)
    assert not follower.mirror.current
    assert await follower.access_check("j", "u") == AccessCheck(True, None)  # asked Redis


def test_malformed_messages_change_nothing() -> None:
    mirror = RevocationMirror(Redis(), "p:", "p:revocations")
    for message in (b"", b"jti", b"jti x notanumber", b"cutoff u nan-ish", b"other a 1", b"\xff"):
        mirror.apply(message)
    assert mirror.lookup("x", "u") == (False, None)


async def test_logout_on_one_server_is_refused_by_another_within_a_second(
    postgres_url: str, redis_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two apps on PostgreSQL + Redis (revocations are shared only through Redis)."""
    settings = make_settings(
        tmp_path_factory.mktemp("one"),
        database_url=postgres_url,
        redis_url=redis_url,
        redis_key_prefix=prefix,
    )
    await prepare_stores(settings)
    other_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("other")})
    async with (
        running(create_app(settings)) as first,
        running(create_app(other_settings)) as second,
    ):
        transports = (httpx.ASGITransport(app=first.asgi), httpx.ASGITransport(app=second.asgi))
        async with (
            httpx.AsyncClient(transport=transports[0], base_url="http://a") as a,
            httpx.AsyncClient(transport=transports[1], base_url="http://b") as b,
        ):
            tokens = await register(a, f"mirror{uuid.uuid4().hex[:8]}")
            headers = bearer(tokens["accessToken"])
            assert "errors" not in await graphql(b, ME, headers=headers)
            await wait_until(lambda: second.state.stores.tokens.mirror.current, "loaded")  # type: ignore[union-attr]
            body = await graphql(a, LOGOUT, {"t": tokens["refreshToken"]}, headers=headers)
            assert "errors" not in body
            started = time.monotonic()

            async def refused() -> bool:
                return error_codes(await graphql(b, ME, headers=headers)) == ["UNAUTHENTICATED"]

            try:
                await wait_until(refused, "the other server refused the logged-out token", 1.0)
                assert time.monotonic() - started < 1.0
            finally:
                await empty_tables(first.state.stores)


async def test_stop_ends_the_follower_even_when_a_cancellation_is_lost(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py's timed read can lose a cancellation; stopping must not wait forever then."""
    read = PubSub.get_message

    async def losing_cancellations(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        try:
            return await read(self, *args, **kwargs)
        except asyncio.CancelledError:
            return None  # as when the read's own timeout swallowed it

    monkeypatch.setattr(PubSub, "get_message", losing_cancellations)
    client = Redis.from_url(redis_url)
    mirror = RevocationMirror(client, prefix, f"{prefix}revocations")
    mirror.start()
    try:
        await wait_until(lambda: mirror.current, "the mirror loaded")
        stopping = asyncio.ensure_future(mirror.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STEP_SECONDS)
        assert stopping in done, "stop() still waits for the follower"
    finally:
        await client.aclose()

"""Fixtures of the live-events tests: a broker on each column, and real servers on Redis."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from db.pubsub import Broker, InProcessBroker, RedisBroker
from tests.servers import embedded_env, start_server, stop_server


@pytest.fixture(params=["memory", "redis"])
def broker_redis_url(request: pytest.FixtureRequest) -> str | None:
    """None for the in-process column; the local Redis (or a skip) for the other."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def broker(broker_redis_url: str | None) -> AsyncIterator[Broker]:
    """A fresh broker: in-process, or on the local Redis under a unique key prefix."""
    if broker_redis_url is None:
        memory = InProcessBroker(history_size=50)
        yield memory
        await memory.close()
        return
    async with _redis_broker(broker_redis_url) as redis_broker:
        yield redis_broker


@pytest.fixture
async def redis_broker(redis_url: str) -> AsyncIterator[RedisBroker]:
    """A fresh broker on the local Redis, for what only a networked broker can suffer."""
    async with _redis_broker(redis_url) as broker:
        yield broker


@contextlib.asynccontextmanager
async def _redis_broker(url: str) -> AsyncIterator[RedisBroker]:
    redis = Redis.from_url(url)
    broker = RedisBroker(redis, f"test:{uuid.uuid4().hex[:8]}:", history_size=50)
    try:
        yield broker
    finally:
        await broker.close()
        await redis.aclose()


JWT_SECRET = "live-test-secret-" + "x" * 40


def _start_server(workdir: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`consciousness serve` on embedded stores under `workdir`, signing with JWT_SECRET."""
    return start_server(workdir, embedded_env(workdir, JWT_SECRETS=JWT_SECRET, **extra_env))


@pytest.fixture(scope="session")
def live_servers(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[str, str]]:
    """Two `consciousness serve` processes sharing Redis (broker, tokens) under one prefix.

    Each keeps its primary data in its own SQLite file; a token from one is valid on the
    other (same JWT secret, same Redis), and events cross through the Redis broker.
    """
    root = tmp_path_factory.mktemp("live")
    shared = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": f"live:{uuid.uuid4().hex[:8]}:"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first, first_url = _start_server(root / "a", shared)
        processes.append(first)
        second, second_url = _start_server(root / "b", shared)
        processes.append(second)
        yield first_url, second_url
    finally:
        for process in processes:
            stop_server(process)


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `consciousness serve` on embedded stores (in-process broker)."""
    process, url = _start_server(tmp_path_factory.mktemp("live-embedded"), {})
    try:
        yield url
    finally:
        stop_server(process)


@pytest.fixture(params=["embedded", "redis"])
def server_url(request: pytest.FixtureRequest) -> str:
    """A server of each column: embedded stores, or the first of the Redis pair."""
    if request.param == "embedded":
        url: str = request.getfixturevalue("embedded_server")
        return url
    first, _ = request.getfixturevalue("live_servers")
    return str(first)

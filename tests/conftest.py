"""Fixtures that run the same tests on both store columns.

`embedded`: SQLite file + in-process broker + chDB, all under a temporary data dir.
`servers`: PostgreSQL + Redis (as on the development and CI machines) + chDB.
A server that does not answer skips the `servers` tests with the reason, except under
CI=true, where it is a failure: CI must run them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from core.settings import Settings
from db.migrate import upgrade_database
from db.session import Database
from db.stores import Stores
from server.app import create_app
from server.startup import prepare_stores
from tests.apps import Running, running

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TEST_DATABASE_NAME = f"consciousness_test_{os.getpid()}"  # concurrent runs do not collide
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["embedded", "servers"]
TEST_JWT_SECRET = "test-secret-" + "x" * 40
# chDB opens one engine path per process, so every test app shares this one.
TEST_ANALYTICS_URL = f"chdb://{tempfile.mkdtemp(prefix='consciousness-chdb-')}"


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true where the servers must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


async def _recreate_database(admin_url: str, name: str, *, create: bool) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            if create:
                await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()


async def _ping_redis(url: str) -> None:
    client = Redis.from_url(url)
    try:
        await client.ping()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped at the end."""
    try:
        asyncio.run(_recreate_database(ADMIN_DATABASE_URL, TEST_DATABASE_NAME, create=True))
    except OSError as exc:
        unavailable(f"PostgreSQL at {ADMIN_DATABASE_URL} is unreachable: {exc}")
    yield ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{TEST_DATABASE_NAME}"
    asyncio.run(_recreate_database(ADMIN_DATABASE_URL, TEST_DATABASE_NAME, create=False))


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        asyncio.run(_ping_redis(TEST_REDIS_URL))
    except (OSError, RedisError) as exc:
        unavailable(f"Redis at {TEST_REDIS_URL} is unreachable: {exc}")
    return TEST_REDIS_URL


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "jwt_secrets": [TEST_JWT_SECRET],
        "clickhouse_url": TEST_ANALYTICS_URL,
        # Tests register and fail sign-ins from one address far more than people do; the
        # anomaly tests (tests/auth/test_anomalies.py) turn the watching on.
        "auth_anomaly_registrations_per_minute": 0,
        "auth_anomaly_failed_usernames": 0,
        # A worker process takes seconds to start (it imports the engine and loads the
        # guard); tests/consciousness/test_engine_processes.py turns them on.
        "engine_processes": 0,
        # Tests run an evaluation cycle at the time they choose (tests/alerts); a loop of the
        # shared app would evaluate their rules at the real time, and hold the leader lease.
        "alerts_enabled": False,
        # Tests are refused on purpose, often: tests/server/test_refusal_hold.py holds them.
        "rate_limited_hold_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def settings_for(backend: str, request: pytest.FixtureRequest, data_dir: Path) -> Settings:
    """Settings for one store column; `servers` asks for PostgreSQL and Redis fixtures."""
    if backend == "embedded":
        return make_settings(data_dir)
    return make_settings(
        data_dir,
        database_url=request.getfixturevalue("postgres_url"),
        redis_url=request.getfixturevalue("redis_url"),
        redis_key_prefix=f"test:{uuid.uuid4().hex[:8]}:",
    )


@pytest.fixture(scope="session", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for one store column, with the database migrated."""
    result = settings_for(request.param, request, tmp_path_factory.mktemp(f"data-{request.param}"))
    asyncio.run(prepare_stores(result))
    return result


@pytest.fixture
async def empty_database(settings: Settings, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of the test's own, with no tables yet, on its column's database server."""
    if settings.database_url:
        name = f"consciousness_own_{uuid.uuid4().hex[:12]}"
        await _recreate_database(ADMIN_DATABASE_URL, name, create=True)
        database = Database(ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}")
    else:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'own.db'}")
    yield database
    await database.close()
    if settings.database_url:
        await _recreate_database(ADMIN_DATABASE_URL, name, create=False)


@pytest.fixture
async def own_database(empty_database: Database) -> Database:
    """A migrated database of the test's own: for what must not meet the shared app's rows
    (or its analytics writer)."""
    await upgrade_database(empty_database.engine)
    return empty_database


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Running]:
    """The real app with its real lifespan, once per store column."""
    async with running(create_app(settings)) as application:
        yield application


@pytest.fixture
def stores(app: Running) -> Stores:
    return app.state.stores


@pytest.fixture
async def client(app: Running, stores: Stores) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app; tables and rate-limit counters are emptied after the test."""
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await empty_tables(stores)
    await app.state.rate_limiter.clear()


async def empty_tables(stores: Stores) -> None:
    async with stores.database.session() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await session.exec(table.delete())

"""`kill -9` during a burst of `process` calls: every acknowledged session and metrics row
survives, and after a restart each metrics row is in ClickHouse exactly once.

A real `consciousness serve` per store column, on stores of its own (its own SQLite file or
PostgreSQL database, its own chDB directory and Redis prefix).
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import ADMIN_DATABASE_URL, _recreate_database
from tests.servers import embedded_env, start_server, stop_server
from tests.support import wait_until

EXPORT = """mutation E($r: TimeRangeInput!) {
  exportAnalytics(query: {range: $r}, format: CSV) { url } }"""
BURST = 500
KILL_AFTER_ACKNOWLEDGED = 150
# Two servers start per test, on a machine the burst has just loaded.
STARTUP_SECONDS = 180
PASSWORD = "crash-test-password"
PROCESS = """mutation P($a: UUID!, $t: String!) {
  process(input: {agentId: $a, input: $t}) { requestId } }"""


async def graphql(client: httpx.AsyncClient, query: str, **variables: object) -> dict[str, object]:
    answer = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in answer, answer
    data: dict[str, object] = answer["data"]
    return data


def create_user(workdir: Path, env: dict[str, str]) -> None:
    """A developer (exports) on the unlimited tier (500 calls), made by the CLI."""
    command = [str(Path(sys.executable).parent / "consciousness"), "create-user"]
    command += ["--username", "crash", "--email", "crash@example.org", "--role", "DEVELOPER"]
    command += ["--tier", "ENTERPRISE", "--password-stdin"]
    subprocess.run(command, input=PASSWORD.encode(), cwd=workdir, env=env, check=True)


@asynccontextmanager
async def signed_in(url: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        login = 'mutation L($p: String!) { login(username: "crash", password: $p) { accessToken } }'
        token = (await graphql(client, login, p=PASSWORD))["login"]["accessToken"]  # type: ignore[index]
        client.headers["authorization"] = f"Bearer {token}"
        yield client


async def burst_then_kill(
    client: httpx.AsyncClient, agent_id: str, server: subprocess.Popen[bytes]
) -> set[str]:
    """BURST concurrent calls; SIGKILL once KILL_AFTER_ACKNOWLEDGED have been answered."""
    acknowledged: set[str] = set()

    async def call(index: int) -> None:
        variables = {"a": agent_id, "t": f"Question {index}: how should I plan next week?"}
        try:
            response = await client.post(
                "/graphql", json={"query": PROCESS, "variables": variables}
            )
        except httpx.TransportError:
            return  # killed before it answered: not acknowledged
        answer = response.json()
        if "errors" not in answer:
            acknowledged.add(answer["data"]["process"]["requestId"])
            if len(acknowledged) == KILL_AFTER_ACKNOWLEDGED:
                server.kill()

    await asyncio.gather(*(call(index) for index in range(BURST)))
    server.wait()
    assert len(acknowledged) < BURST, "the server was not killed mid-burst"
    return acknowledged


async def session_request_ids(database_url: str) -> list[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT request_id FROM consciousness_sessions"))
            return [str(uuid.UUID(str(row[0]))) for row in rows]
    finally:
        await engine.dispose()


async def metrics_request_ids(client: httpx.AsyncClient) -> list[str]:
    """The request id of every metrics row, through a CSV export."""
    now = datetime.now(UTC)
    span = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    export = await graphql(client, EXPORT, r=span)
    response = await client.get(export["exportAnalytics"]["url"])  # type: ignore[index]
    response.raise_for_status()
    return [row["request_id"] for row in csv.DictReader(io.StringIO(response.text))]


@pytest.fixture(params=["embedded", "servers"])
def column(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The server's environment and database URL on one store column."""
    env = embedded_env(tmp_path)
    if request.param == "embedded":
        yield env, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'consciousness.db'}"
        return
    redis_url = request.getfixturevalue("redis_url")
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    name = f"consciousness_crash_{uuid.uuid4().hex[:12]}"
    asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=True))
    database_url = ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"test:{uuid.uuid4().hex[:8]}:",
    }
    yield env, database_url
    asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=False))


async def test_kill_9_mid_burst_loses_no_acknowledged_session_or_metrics_row(
    column: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, database_url = column
    create_user(tmp_path, env)
    server, url = start_server(tmp_path, env, startup_seconds=STARTUP_SECONDS)
    try:
        async with signed_in(url) as client:
            agent = await graphql(
                client, 'mutation { createAgent(input: {name: "c", agentType: ANALYTICAL}) { id } }'
            )
            agent_id = agent["createAgent"]["id"]  # type: ignore[index]
            await graphql(
                client, "mutation A($a: UUID!) { activateAgent(id: $a) { id } }", a=agent_id
            )
            acknowledged = await burst_then_kill(client, agent_id, server)
    finally:
        stop_server(server)
    server, url = start_server(tmp_path, env, startup_seconds=STARTUP_SECONDS)
    try:
        sessions = await session_request_ids(database_url)
        assert acknowledged <= set(sessions), "acknowledged sessions were lost"
        async with signed_in(url) as client:
            # The restarted writer drains what the killed one left in the outbox.
            async def all_rows_in() -> bool:
                return len(await metrics_request_ids(client)) >= len(sessions)

            await wait_until(all_rows_in, "every session's metrics row is in ClickHouse", 60)
            stored = await metrics_request_ids(client)
    finally:
        stop_server(server)
    duplicates = [request_id for request_id, count in Counter(stored).items() if count > 1]
    assert duplicates == []
    assert set(stored) == set(sessions)
    assert acknowledged <= set(stored)
    print(f"{len(acknowledged)} acknowledged, {len(sessions)} sessions, {len(stored)} rows")

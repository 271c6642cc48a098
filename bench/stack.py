"""Our app's stores and data for the load benchmarks: a fresh PostgreSQL database, a Redis key
prefix, the ENTERPRISE benchmark user and its agents.

The user is made with `consciousness create-user --tier enterprise` (no tier rate limit);
agents, activation and `process` go through the server's GraphQL API. PostgreSQL and Redis are
the ones of DESIGN.md §6, or BENCH_POSTGRES_URL (an admin URL: CREATE DATABASE) and
BENCH_REDIS_URL. The database is dropped and the prefix's keys deleted on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
USERNAME = "bench"
PASSWORD = "correct horse battery staple"  # a throwaway benchmark user's
STORE_SETTINGS = frozenset({"DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "JWT_SECRETS"})
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }"
CREATE_AGENT = "mutation($n: String!) { createAgent(input: {name: $n, agentType: GENERAL}) { id } }"
ACTIVATE_AGENT = "mutation($id: UUID!) { activateAgent(id: $id) { id } }"


def _admin(statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) as the admin."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextlib.contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the block (its URL); dropped afterwards."""
    name = f"bench_{label}_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def redis_prefix(label: str, url: str = REDIS_URL) -> Iterator[str]:
    """A REDIS_KEY_PREFIX no one else uses; its keys are deleted afterwards."""
    from redis import Redis

    prefix = f"bench:{label}:{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        with Redis.from_url(url) as redis:
            keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                redis.delete(*keys[start : start + 1000])


def stack_env(data_dir: Path, database_url: str, prefix: str, jwt_secrets: str) -> dict[str, str]:
    """The app's settings on PostgreSQL and Redis, analytics in embedded chDB under data_dir.

    Every process sharing the stores must get the same `jwt_secrets`. The query-cost budgets
    are off (0): the hourly budgets would refuse a benchmark's traffic within seconds.
    """
    env = {key: value for key, value in os.environ.items() if key not in STORE_SETTINGS}
    return env | {
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "CLICKHOUSE_URL": "",
        "JWT_SECRETS": jwt_secrets,
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        "QUERY_COST_BUDGET_ANONYMOUS": "0",
        "QUERY_COST_BUDGET_BASIC": "0",
    }


def consciousness(argv: list[str], env: dict[str, str], workdir: Path, stdin: str = "") -> None:
    """Run one `consciousness` command; RuntimeError with the end of its output if it fails."""
    done = subprocess.run(
        [str(BIN / "consciousness"), *argv],
        env=env,
        cwd=workdir,
        input=stdin or None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"consciousness {argv[0]} failed: {done.stderr.strip()[-500:]}")


def create_bench_user(env: dict[str, str], workdir: Path) -> None:
    """Migrate the stores, then create the ENTERPRISE user USERNAME with PASSWORD."""
    consciousness(["migrate"], env, workdir)
    user = ["--username", USERNAME, "--email", f"{USERNAME}@example.org"]
    argv = ["create-user", *user, "--tier", "enterprise", "--password-stdin"]
    consciousness(argv, env, workdir, stdin=PASSWORD + "\n")


def gql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """One GraphQL call's `data`; RuntimeError naming the first error if there is one."""
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    if body.get("errors"):
        raise RuntimeError(f"setup failed: {body['errors'][0]}")
    data: dict[str, Any] = body["data"]
    return data


def sign_in(client: httpx.Client) -> str:
    """Log in as the benchmark user; the client sends the token from now on. Returns it."""
    token: str = gql(client, LOGIN, u=USERNAME, p=PASSWORD)["login"]["accessToken"]
    client.headers["Authorization"] = f"Bearer {token}"
    return token


def create_agents(client: httpx.Client, count: int, *, activate: bool = True) -> list[str]:
    """`count` GENERAL agents of the signed-in user, ACTIVE unless told; their ids."""
    ids = []
    for index in range(count):
        agent_id: str = gql(client, CREATE_AGENT, n=f"bench-{index:04d}")["createAgent"]["id"]
        if activate:
            gql(client, ACTIVATE_AGENT, id=agent_id)
        ids.append(agent_id)
    return ids


def wal_position(database_url: str) -> int:
    """PostgreSQL's write-ahead log position in bytes (the server's, every database)."""

    async def read() -> int:
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            return int(await connection.fetchval("SELECT pg_current_wal_lsn() - '0/0'"))
        finally:
            await connection.close()

    return asyncio.run(read())


def state_retries(metrics_url: str) -> float:
    """The `process` calls the worker that answers redid under the row lock, so far."""
    text = httpx.get(metrics_url, timeout=10).raise_for_status().text
    prefix = 'agent_state_retries_total{path="process"} '
    return next(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))

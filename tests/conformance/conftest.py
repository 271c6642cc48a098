"""The conformance tests: a real server, and the npm clients installed by `make test`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import ADMIN_DATABASE_URL, BACKENDS, _recreate_database, unavailable
from tests.e2e.conftest import server_url
from tests.servers import embedded_env, serve
from tests.support import PASSWORD

__all__ = ["server_url"]

HERE = Path(__file__).parent
NODE_SECONDS = 120


def run_node(script: str, *args: str) -> Any:
    """Run one of this folder's Node scripts; its stdout is one JSON document."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules").is_dir():
        unavailable("node or tests/conformance/node_modules is missing (make test installs them)")
    assert node is not None
    done = subprocess.run(
        [node, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=NODE_SECONDS,
        cwd=HERE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of the schemathesis runs: reproducible, no deadline or database."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )


def register(server_url: str) -> str:
    """A fresh user of the running server, signed up over plain HTTP; their access token."""
    username = f"conf{uuid.uuid4().hex[:12]}"
    variables = {
        "i": {"username": username, "email": f"{username}@example.org", "password": PASSWORD}
    }
    response = httpx.post(
        f"{server_url}/graphql",
        json={
            "query": "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            "variables": variables,
        },
        timeout=10,
    )
    body = response.json()
    assert body.get("data"), body
    token: str = body["data"]["register"]["accessToken"]
    return token


@pytest.fixture(scope="module")
def access_token(server_url: str) -> str:
    return register(server_url)


@pytest.fixture(scope="session", params=BACKENDS)
def column_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`consciousness serve` on each store column, for the fuzzing: embedded, then on a
    PostgreSQL database of its own and Redis (keys under a prefix of its own).

    Text that SQLite stores and PostgreSQL refuses (a NUL) was an INTERNAL error that the
    fuzzing, on the embedded column alone, never met.
    """
    workdir = tmp_path_factory.mktemp(f"fuzzed-{request.param}")
    env = embedded_env(workdir)
    if request.param == "embedded":
        with serve(workdir, env) as (url, _process):
            yield url
        return
    redis_url = request.getfixturevalue("redis_url")
    name = f"consciousness_fuzz_{os.getpid()}"
    try:
        asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=True))
    except OSError as exc:
        unavailable(f"PostgreSQL at {ADMIN_DATABASE_URL} is unreachable: {exc}")
    env |= {
        "DATABASE_URL": ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"fuzz:{uuid.uuid4().hex[:8]}:",
    }
    try:
        with serve(workdir, env) as (url, _process):
            yield url
    finally:
        asyncio.run(_recreate_database(ADMIN_DATABASE_URL, name, create=False))

"""A client generated from openapi.json by openapi-python-client (pinned in uv.lock) signs
in, creates an agent, processes an input and reads the analytics, against the app."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.apps import Running
from tests.auth.conftest import SignIn
from tests.support import PASSWORD, wait_until

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.json"
PACKAGE = "consciousness_rest_client"
GENERATE_SECONDS = 300


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported from a temporary directory."""
    out = tmp_path_factory.mktemp("client")
    tool = Path(sys.executable).parent / "openapi-python-client"
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [
            str(tool),
            "generate",
            "--path",
            str(OPENAPI_FILE),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=GENERATE_SECONDS,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_generated_client_signs_in_creates_processes_and_reads_analytics(
    generated: ModuleType, app: Running, client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    await sign_in("ada")  # the account; the generated client signs in on its own
    models = _module("models")
    server = {
        "base_url": "http://testserver",
        "httpx_args": {"transport": httpx.ASGITransport(app=app.asgi)},
    }
    login = _module("api.auth.login")
    tokens = await login.asyncio(
        client=generated.Client(**server),
        body=models.LoginBody(username="ada", password=PASSWORD),
    )
    assert isinstance(tokens, models.LoginResponse), tokens
    ada = generated.AuthenticatedClient(token=tokens.access_token, **server)

    create = _module("api.agents.create_agent")
    created = await create.asyncio_detailed(
        client=ada,
        body=models.CreateAgentInput(name="scout", agent_type=models.AgentType.ANALYTICAL),
    )
    assert created.status_code == 201
    agent = created.parsed
    assert agent.status == models.AgentStatus.INACTIVE
    activate = _module("api.agents.activate_agent")
    active = await activate.asyncio(client=ada, id=uuid.UUID(str(agent.id)))
    assert active.status == models.AgentStatus.ACTIVE

    process = _module("api.consciousness.process")
    answer = await process.asyncio(
        client=ada,
        body=models.ProcessInput(agent_id=agent.id, input_="My card is 4111 1111 1111 1111"),
    )
    assert isinstance(answer, models.ProcessResponse), answer
    assert answer.decision == models.Decision.FLAGGED
    assert answer.consciousness_state.sessions == 1

    sessions = await _module("api.analytics.analytics_consciousness").asyncio(
        client=ada, agent_id=agent.id
    )
    assert [edge.node.request_id for edge in sessions.edges] == [answer.request_id]
    now = datetime.now(UTC)
    query = models.AnalyticsQuery(
        range_=models.TimeRangeInput(start=now - timedelta(hours=1), end=now + timedelta(hours=1)),
        aggregations=[models.AggregationInput(function=models.AggregateFunction.COUNT)],
    )
    metrics = _module("api.analytics.analytics_metrics")

    async def counted_once() -> bool:
        result = await metrics.asyncio(client=ada, body=query)
        assert isinstance(result, models.AnalyticsMetricsResponse), result
        return sum(row.count for row in result.rows) == 1

    await wait_until(counted_once, "the processed request is in the analytics")

"""Fixtures of the browser tests: chromium, the Node runner, and a real server.

The scenarios run in tests/browser/scenarios.mjs (playwright-core driving the system's
chromium, headless, no network but localhost). `make test` installs both (`npm ci`, and
`apt-get install chromium` when root); when either is missing these tests skip with the
reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.security import CONTENT_SECURITY_POLICY as SERVER_CONTENT_SECURITY_POLICY
from tests.conftest import unavailable
from tests.live.conftest import _start_server
from tests.support import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("scenarios.mjs")
ARTIFACTS = Path(__file__).with_name("artifacts")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
SCENARIO_TIMEOUT_SECONDS = 120
SHORT_TOKEN_SECONDS = 4
# The pages are loaded under the policy the server sends (the route that records requests
# re-serves every response, so it sets the same header again).
CONTENT_SECURITY_POLICY = SERVER_CONTENT_SECURITY_POLICY


def _chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass(frozen=True)
class Browser:
    node: str
    chromium: str

    def run(self, scenario: str, **options: Any) -> dict[str, Any]:
        """Run one scenario of scenarios.mjs; its JSON result (the test fails on an error)."""
        ARTIFACTS.mkdir(exist_ok=True)
        arguments = {
            "scenario": scenario,
            "chromiumPath": self.chromium,
            "artifacts": str(ARTIFACTS),
            "csp": CONTENT_SECURITY_POLICY,
            **options,
        }
        completed = subprocess.run(
            [self.node, str(SCENARIOS), json.dumps(arguments)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            pytest.fail(f"scenario {scenario} failed:\n{completed.stderr}\n{completed.stdout}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return result


@pytest.fixture(scope="session")
def browser() -> Browser:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (needed to drive the browser tests)")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        unavailable("node_modules/playwright-core is missing: run `npm ci`")
    chromium = _chromium()
    if chromium is None:
        unavailable("chromium is not installed: `apt-get install chromium` (as root)")
    assert node is not None
    assert chromium is not None
    return Browser(node, chromium)


@dataclass(frozen=True)
class Account:
    url: str
    username: str
    password: str
    token: str
    agent_id: str


def _ok(url: str, query: str, token: str | None = None, **variables: object) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`consciousness serve` on embedded stores, for the browser."""
    process, url = _start_server(tmp_path_factory.mktemp("browser"), {})
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def short_token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose access tokens live SHORT_TOKEN_SECONDS, checked on sockets twice a second."""
    process, url = _start_server(
        tmp_path_factory.mktemp("browser-short-tokens"),
        {
            "ACCESS_TOKEN_TTL_SECONDS": str(SHORT_TOKEN_SECONDS),
            "WEBSOCKET_TOKEN_CHECK_SECONDS": "0.5",
        },
    )
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def alerts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose alert evaluator runs twice a second."""
    process, url = _start_server(
        tmp_path_factory.mktemp("browser-alerts"), {"ALERT_EVALUATION_INTERVAL_SECONDS": "0.5"}
    )
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def account(browser_server: str) -> Account:
    """A fresh user with one ACTIVE agent on the browser server."""
    return new_account(browser_server)


def new_account(url: str) -> Account:
    """Register a user and give them one ACTIVE agent."""
    name = f"browser{uuid.uuid4().hex[:8]}"
    token = _ok(
        url,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        i={"username": name, "email": f"{name}@example.org", "password": PASSWORD},
    )["register"]["accessToken"]
    agent_id = _ok(
        url,
        "mutation($i: CreateAgentInput!) { createAgent(input: $i) { id } }",
        token,
        i={"name": "Browser agent", "agentType": "GENERAL"},
    )["createAgent"]["id"]
    _ok(url, "mutation($id: UUID!) { activateAgent(id: $id) { id } }", token, id=agent_id)
    return Account(url, name, PASSWORD, token, agent_id)

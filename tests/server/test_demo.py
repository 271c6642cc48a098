"""The demo: `consciousness seed-demo` against a running server, through its GraphQL API."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.cli import main
from server.demo import (
    DEMO_AGENTS,
    DEMO_PASSWORD,
    DEMO_PROMPTS,
    DEMO_USERNAME,
    REQUEST_ID_PREFIX,
    RUNNING_SERVER_SECONDS,
    quiet_demo_requests,
)
from tests.live.conftest import JWT_SECRET, _start_server
from tests.support import FakeClock

REQUESTS = len(DEMO_PROMPTS) + 1  # every prompt once, one pause and reactivation on the way


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("demo")
    process, url = _start_server(workdir, {})
    try:
        yield url, workdir
    finally:
        process.terminate()
        process.wait(timeout=30)


def _seed(url: str, workdir: Path, requests: int) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "consciousness"), "seed-demo", "--url", url]
    command += ["--requests", str(requests), "--interval", "0"]
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(workdir / "data"), "JWT_SECRETS": JWT_SECRET}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _ok(url: str, query: str, token: str | None = None, **variables: object) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30
    ).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { accessToken } }"""
SESSIONS = """query($a: UUID!) { consciousnessSessions(agentId: $a, first: 100) {
  totalCount edges { node { blocked input violations { category } } } } }"""


def test_seed_demo_sends_every_prompt_through_process(demo_server: tuple[str, Path]) -> None:
    url, workdir = demo_server
    seeded = _seed(url, workdir, REQUESTS)
    assert seeded.returncode == 0, seeded.stderr
    assert f"sign in as {DEMO_USERNAME} / {DEMO_PASSWORD}" in seeded.stdout
    assert f"sent {REQUESTS} requests" in seeded.stdout

    token = _ok(url, LOGIN, u=DEMO_USERNAME, p=DEMO_PASSWORD)["login"]["accessToken"]
    agents = _ok(url, "{ agents(first: 10) { edges { node { id name status version } } } }", token)
    nodes = [edge["node"] for edge in agents["agents"]["edges"]]
    assert sorted(node["name"] for node in nodes) == sorted(name for name, _, _ in DEMO_AGENTS)
    assert all(node["status"] == "ACTIVE" for node in nodes)
    # one agent was paused and activated again on the way: two more versions than the rest
    assert sorted(node["version"] for node in nodes) == [2, 2, 4]

    sessions = [
        edge["node"]
        for node in nodes
        for edge in _ok(url, SESSIONS, token, a=node["id"])["consciousnessSessions"]["edges"]
    ]
    assert len(sessions) == REQUESTS
    assert any(session["blocked"] for session in sessions)  # refused, and still recorded
    categories = {v["category"] for session in sessions for v in session["violations"]}
    assert {"PII", "PROFANITY", "S2", "S9", "S11"} <= categories
    assert not any("@example.com" in session["input"] for session in sessions)  # redacted

    # a second run reuses the user and the agents
    again = _seed(url, workdir, 1)
    assert again.returncode == 0, again.stderr
    agents = _ok(url, "{ agents(first: 10) { totalCount } }", token)
    assert agents["agents"]["totalCount"] == len(DEMO_AGENTS)


def test_seed_demo_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRETS", JWT_SECRET)
    monkeypatch.setenv("DATA_ENCRYPTION_KEYS", "k1:" + base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert main(["seed-demo", "--url", "http://127.0.0.1:9"]) == 2
    assert "refused in production" in capsys.readouterr().err


def test_seed_demo_names_an_unreachable_server(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    demo_server: tuple[str, Path],
) -> None:
    """It waits RUNNING_SERVER_SECONDS of the injected clock, not of the wall clock."""
    _, workdir = demo_server
    clock = FakeClock()
    monkeypatch.setattr("server.announce.SYSTEM_CLOCK", clock)
    monkeypatch.setenv("DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("JWT_SECRETS", JWT_SECRET)
    assert main(["seed-demo", "--url", "http://127.0.0.1:9", "--requests", "1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: http://127.0.0.1:9 did not answer /health within 10 s\n"
    assert RUNNING_SERVER_SECONDS < clock.monotonic() <= RUNNING_SERVER_SECONDS + 1


def _request_line(request_id: str) -> logging.LogRecord:
    record = logging.LogRecord("consciousness.request", logging.INFO, "", 0, "POST", (), None)
    record.fields = {"request_id": request_id}
    return record


def test_the_demo_quiets_its_own_request_lines_only(monkeypatch: pytest.MonkeyPatch) -> None:
    request_log = logging.getLogger("consciousness.request")
    monkeypatch.setattr(request_log, "filters", [])
    quiet_demo_requests()
    quiet_demo_requests()  # once only
    assert len(request_log.filters) == 1
    level = request_log.level
    try:
        request_log.setLevel(logging.INFO)
        assert not request_log.filter(_request_line(f"{REQUEST_ID_PREFIX}abc"))
        assert request_log.filter(_request_line("someone-else"))
        request_log.setLevel(logging.DEBUG)  # LOG_LEVEL=DEBUG shows them again
        assert request_log.filter(_request_line(f"{REQUEST_ID_PREFIX}abc"))
    finally:
        request_log.setLevel(level)

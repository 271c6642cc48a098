"""A real redis-server stopped and started again under a running server and its subscribers.

The server (`consciousness serve`, REDIS_URL on a redis-server of this test's own, started
on a spare port without persistence, so a restart loses every key) must never crash or hang:
while Redis is down, subscribers get an error event, requests that need Redis (every
authenticated one: the access-token check reads revocations there) get a prompt error, and
the rest keep working; once Redis is back, a dashboard that resubscribes with `since`
receives what it missed, with no gap and no duplicate, then the live events.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError
from websockets.exceptions import ConnectionClosed

from tests.conftest import unavailable
from tests.live.client import STEP_SECONDS, Socket, User, register
from tests.live.conftest import _start_server
from tests.servers import free_port
from tests.support import wait_until

AGENT_EVENTS = """subscription($agentId: UUID, $since: Int) {
  agentEvents(agentId: $agentId, since: $since) { sequence kind agentId status }
}"""
ME = "{ me { id } }"
HEALTH = "{ systemHealth { status stores { name ok } } }"
DEACTIVATE = "mutation($id: UUID!) { deactivateAgent(id: $id) { id status } }"
PROMPT_SECONDS = 5.0  # an answer while Redis is down comes at least this fast
HUNG_REDIS_NOTICE_SECONDS = 30.0


class RedisServer:
    """A redis-server process of the test's own, on a fixed port, without persistence."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
            return
        command = [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--dir", str(self._workdir)]
        log = (self._workdir / "redis.log").open("a")
        self._process = subprocess.Popen(command, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + STEP_SECONDS
        client = Redis.from_url(self.url)
        try:
            while True:
                try:
                    client.ping()
                    return
                except RedisError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not start: {self.log()}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a paused one could not exit
            self._process.terminate()
            self._process.wait(timeout=STEP_SECONDS)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and accepted, but nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return (self._workdir / "redis.log").read_text()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(free_port(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_on(
    redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`consciousness serve` on the test's redis-server (SQLite and chDB for the rest)."""
    env = {"REDIS_URL": redis_server.url, "REDIS_KEY_PREFIX": f"restart:{uuid.uuid4().hex[:8]}:"}
    process, url = _start_server(tmp_path / "server", env)
    try:
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _post(
    url: str, query: str, token: str | None = None, **variables: object
) -> tuple[float, dict[str, Any]]:
    """POST an operation; returns (seconds it took, decoded body)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=STEP_SECONDS * 3) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    assert response.status_code == 200, response.text
    return time.monotonic() - started, response.json()


def _error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error


async def _next_error(socket: Socket, seconds: float) -> dict[str, Any]:
    """The next result on the socket, waiting up to `seconds`; it must be one error."""
    deadline = time.monotonic() + seconds
    while True:
        frame = await asyncio.wait_for(socket.ws.recv(), max(0.0, deadline - time.monotonic()))
        message = json.loads(frame)
        if message["type"] in {"next", "error"}:
            payload = message["payload"]
            return _error(payload if message["type"] == "next" else {"errors": payload})
        assert message["type"] in {"ping", "pong", "ka"}, message


async def _until_redis_serves(url: str, token: str) -> None:
    """Wait until an authenticated request works again (the pool reconnects on demand)."""

    async def serves() -> bool:
        _, body = await _post(url, ME, token)
        return "errors" not in body

    await wait_until(serves, "an authenticated request works again", STEP_SECONDS)


async def test_redis_restart_fails_subscribers_promptly_and_resume_misses_nothing(
    redis_server: RedisServer, app_on: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, url = app_on
    owner: User = await register(url)
    agent_id = await owner.create_agent()  # the owner's topic: sequence 1
    socket = await Socket.open(url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("before", AGENT_EVENTS, since=0)
        await owner.activate(agent_id)  # sequence 2
        seen = [await socket.data("agentEvents") for _ in range(2)]
        assert [(e["sequence"], e["kind"]) for e in seen] == [(1, "CREATED"), (2, "STATUS_CHANGED")]
        last = seen[-1]["sequence"]

        redis_server.stop()

        # The open subscription ends with an error event instead of stalling.
        interrupted = _error(await socket.next())
        assert interrupted["extensions"]["code"] == "INTERNAL"
        assert "interrupted" in interrupted["message"]
        assert "subscribe again" in interrupted["message"]

        # Subscribing again while Redis is down is refused at once, never left hanging.
        await socket.subscribe("during", AGENT_EVENTS, since=last)
        refused = _error(await socket.next())
        assert "interrupted" in refused["message"], refused

        # What needs no Redis keeps working; the health check names the broker.
        seconds, body = await _post(url, HEALTH)
        assert seconds < PROMPT_SECONDS
        assert body["data"]["systemHealth"]["status"] != "OK", body
        stores = {s["name"]: s["ok"] for s in body["data"]["systemHealth"]["stores"]}
        assert stores["broker"] is False, stores
        assert stores["database"] is True, stores
        async with httpx.AsyncClient(base_url=url, timeout=STEP_SECONDS) as http:
            ready = await http.get("/ready")
        assert ready.status_code == 503
        assert "broker" in ready.json()["failing"]

        # What needs Redis (the access-token check, the login throttle) fails promptly with
        # a clear message, and changes nothing.
        seconds, body = await _post(url, DEACTIVATE, owner.token, id=agent_id)
        assert seconds < PROMPT_SECONDS
        assert _error(body)["message"] == "token store unavailable", body
        seconds, body = await _post(
            url,
            'mutation { login(username: "nobody", password: "not the password") { tokenType } }',
        )
        assert seconds < PROMPT_SECONDS
        assert _error(body)["message"] == "rate limiter unavailable", body
        newcomer = f"newcomer_{uuid.uuid4().hex[:8]}"
        register_newcomer = (
            "mutation($name: String!) { register(input: {username: $name, "
            'email: "n@example.org", password: "correct horse battery"}) { tokenType } }'
        )
        seconds, body = await _post(url, register_newcomer, name=newcomer)
        assert seconds < PROMPT_SECONDS
        assert _error(body)["message"] == "token store unavailable", body

        # A new websocket whose token cannot be checked is closed, not left waiting.
        try:
            await asyncio.wait_for(
                Socket.open(url, owner.token, "graphql-transport-ws"), PROMPT_SECONDS
            )
        except TimeoutError:  # an OSError too on 3.11: catch it first
            pytest.fail("the socket was left waiting")
        except (ConnectionClosed, AssertionError, OSError):
            pass
        else:
            pytest.fail("the socket was accepted")
        assert process.poll() is None, "the server exited while Redis was down"

        redis_server.start()  # the same port, every key lost
        await _until_redis_serves(url, owner.token)
        _, body = await _post(url, register_newcomer, name=newcomer)
        assert "errors" not in body, body  # the name stayed free
        assert body["data"]["register"]["tokenType"] == "Bearer"

        # While the dashboard is away, the agent changes once; then it resubscribes.
        await owner.ok(DEACTIVATE, id=agent_id)
        await socket.subscribe("after", AGENT_EVENTS, since=last)
        missed = await socket.data("agentEvents")
        await owner.activate(agent_id)
        live = await socket.data("agentEvents")
        assert [(e["sequence"], e["status"]) for e in (missed, live)] == [
            (last + 1, "INACTIVE"),
            (last + 2, "ACTIVE"),
        ]
        assert process.poll() is None
    finally:
        await socket.close()


async def test_a_redis_that_stops_answering_fails_subscribers_instead_of_stalling(
    redis_server: RedisServer, app_on: tuple[subprocess.Popen[bytes], str]
) -> None:
    """SIGSTOP: the socket stays open but nothing answers, so only a heartbeat can tell."""
    process, url = app_on
    owner: User = await register(url)
    agent_id = await owner.create_agent()
    socket = await Socket.open(url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("before", AGENT_EVENTS, since=0)
        last = (await socket.data("agentEvents"))["sequence"]
        redis_server.pause()
        try:
            # The heartbeat (HEARTBEAT_SECONDS + HEARTBEAT_TIMEOUT_SECONDS), then one
            # reconnect attempt bounded by SUBSCRIBE_TIMEOUT_SECONDS; a margin for a busy box.
            started = time.monotonic()
            interrupted = await _next_error(socket, HUNG_REDIS_NOTICE_SECONDS)
            assert "interrupted" in interrupted["message"], interrupted
            assert time.monotonic() - started < HUNG_REDIS_NOTICE_SECONDS
            assert process.poll() is None
        finally:
            redis_server.resume()
        await _until_redis_serves(url, owner.token)
        await owner.activate(agent_id)
        await socket.subscribe("after", AGENT_EVENTS, since=last)
        resumed = await socket.data("agentEvents")
        assert (resumed["sequence"], resumed["status"]) == (last + 1, "ACTIVE")
    finally:
        await socket.close()

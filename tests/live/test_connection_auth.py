"""A websocket's token over its lifetime: expiry and revocation close it, renewal extends it.

Against real servers with 5-second access tokens and a revocation check every half second,
on both store columns and both protocols.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.client import STEP_SECONDS, Socket, User
from tests.live.conftest import _start_server
from tests.support import PASSWORD

TTL_SECONDS = 5
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
AGENT_EVENTS = "subscription { agentEvents { sequence kind agentId } }"
RENEW = (
    """mutation($t: String!) { renewConnectionToken(accessToken: $t) { expiresAt expiresIn } }"""
)
ME = "{ me { username } }"
REGISTER = """mutation($i: RegisterInput!) {
  register(input: $i) { accessToken refreshToken user { id username } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken refreshToken } }"""
LOGOUT = "mutation($r: String!) { logout(refreshToken: $r) }"
DEACTIVATE = "mutation($id: UUID!) { deactivateUser(userId: $id) { id } }"


@dataclass
class Server:
    url: str
    workdir: Path
    env: dict[str, str]


@pytest.fixture(scope="module", params=["embedded", "redis"])
def short_token(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server whose access tokens live 5 s and whose sockets check revocation every 0.5 s."""
    env = {"ACCESS_TOKEN_TTL_SECONDS": str(TTL_SECONDS), "WEBSOCKET_TOKEN_CHECK_SECONDS": "0.5"}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["REDIS_KEY_PREFIX"] = f"shorttoken:{uuid.uuid4().hex[:8]}:"
    workdir = tmp_path_factory.mktemp("short-token")
    process, url = _start_server(workdir, env)
    try:
        yield Server(url, workdir, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def short_token_server(short_token: Server) -> str:
    return short_token.url


def _create_admin(server: Server) -> str:
    """An admin made with `consciousness create-user` on the server's database."""
    name = f"admin{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **server.env, "DATA_DIR": str(server.workdir / "data")}
    env["CLICKHOUSE_URL"] = f"chdb://{server.workdir / 'cli-analytics'}"  # the server locks its own
    env.pop("DATABASE_URL", None)
    command = [str(Path(sys.executable).parent / "consciousness"), "create-user"]
    command += ["--username", name, "--email", f"{name}@example.org", "--role", "admin"]
    done = subprocess.run(
        [*command, "--password-stdin"],
        input=PASSWORD.encode(),
        cwd=server.workdir,
        env=env,
        check=False,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()
    return name


async def _post(url: str, query: str, token: str | None = None, **variables: object) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=STEP_SECONDS) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    return response.json()


async def _register(url: str) -> tuple[User, str, str]:
    """A new user, their refresh token and their username."""
    name = f"renew{uuid.uuid4().hex[:10]}"
    body = await _post(
        url, REGISTER, i={"username": name, "email": f"{name}@example.org", "password": PASSWORD}
    )
    data = body["data"]["register"]
    return User(url, data["accessToken"], data["user"]["id"]), data["refreshToken"], name


async def _login(url: str, username: str) -> dict[str, str]:
    body = await _post(url, LOGIN, u=username, p=PASSWORD)
    tokens: dict[str, str] = body["data"]["login"]
    return tokens


async def _until_closed(socket: Socket, within: float) -> tuple[list[dict[str, Any]], int | None]:
    """Messages received until the server closes the socket, and the close code."""
    messages = []
    deadline = time.monotonic() + within
    try:
        while True:
            raw = await asyncio.wait_for(socket.ws.recv(), max(0.01, deadline - time.monotonic()))
            messages.append(json.loads(raw))
    except ConnectionClosed:
        return messages, socket.ws.close_code
    except TimeoutError:
        return messages, None


async def _renew(socket: Socket, token: str) -> dict[str, Any]:
    await socket.subscribe("renew", RENEW, t=token)
    return await socket.next()


async def _me(socket: Socket) -> str:
    await socket.subscribe("me", ME)
    username: str = (await socket.data("me"))["username"]
    return username


def _codes(result: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in result["errors"]]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_socket_closes_when_its_token_expires(
    short_token_server: str, protocol: str
) -> None:
    user, _, _ = await _register(short_token_server)
    socket = await Socket.open(short_token_server, user.token, protocol)
    await socket.subscribe("events", AGENT_EVENTS)
    started = time.monotonic()
    messages, code = await _until_closed(socket, TTL_SECONDS + 3)
    assert code == 4401
    assert time.monotonic() - started >= TTL_SECONDS - 2  # exp is whole seconds
    if protocol == "graphql-ws":
        errors = [m for m in messages if m["type"] == "connection_error"]
        assert errors
        assert "expired" in errors[0]["payload"]["message"]
    else:
        assert "expired" in (socket.ws.close_reason or "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_renewal_before_expiry_keeps_the_socket_open(
    short_token_server: str, protocol: str
) -> None:
    registered = time.time()
    user, _, username = await _register(short_token_server)
    socket = await Socket.open(short_token_server, user.token, protocol)
    try:
        await socket.subscribe("events", AGENT_EVENTS)
        await asyncio.sleep(TTL_SECONDS / 2)  # the new token's exp (whole seconds) is later
        fresh = await _login(short_token_server, username)
        renewed = (await _renew(socket, fresh["accessToken"]))["data"]["renewConnectionToken"]
        expires_at = datetime.fromisoformat(renewed["expiresAt"]).timestamp()
        assert expires_at >= registered + TTL_SECONDS + 1
        await asyncio.sleep(max(0.0, registered + TTL_SECONDS + 0.5 - time.time()))
        agent_id = await User(short_token_server, fresh["accessToken"], user.id).create_agent()
        _, event = await socket.next_with_id()  # open past the first token's expiry
        assert event["data"]["agentEvents"]["agentId"] == agent_id
        assert await _me(socket) == username
        _, code = await _until_closed(socket, expires_at - time.time() + 2)  # the new expiry
        assert code == 4401
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_renewal_refuses_bad_tokens_and_changes_nothing(
    short_token_server: str, protocol: str
) -> None:
    user, _, username = await _register(short_token_server)
    other, _, _ = await _register(short_token_server)
    socket = await Socket.open(short_token_server, user.token, protocol)
    try:
        assert _codes(await _renew(socket, "not-a-token")) == ["UNAUTHENTICATED"]
        assert _codes(await _renew(socket, user.token + "x")) == ["UNAUTHENTICATED"]
        assert _codes(await _renew(socket, other.token)) == ["FORBIDDEN"]
        assert await _me(socket) == username
        _, code = await _until_closed(socket, TTL_SECONDS + 3)  # still the first token's exp
        assert code == 4401
    finally:
        await socket.close()


async def test_renewal_over_http_is_refused(short_token_server: str) -> None:
    user, _, _ = await _register(short_token_server)
    body = await _post(short_token_server, RENEW, user.token, t=user.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "websocket" in body["errors"][0]["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_logout_of_the_token_closes_the_socket(
    short_token_server: str, protocol: str
) -> None:
    user, refresh, _ = await _register(short_token_server)
    socket = await Socket.open(short_token_server, user.token, protocol)
    await socket.subscribe("events", AGENT_EVENTS)
    body = await _post(short_token_server, LOGOUT, user.token, r=refresh)
    assert body["data"] == {"logout": True}
    started = time.monotonic()
    messages, code = await _until_closed(socket, 2)
    assert code == 4401
    assert time.monotonic() - started < 2
    reason = (
        next(m for m in messages if m["type"] == "connection_error")["payload"]["message"]
        if protocol == "graphql-ws"
        else socket.ws.close_reason
    )
    assert "revoked" in (reason or "")


async def test_a_revocation_closes_only_the_sockets_of_that_token(short_token: Server) -> None:
    """One process checks every socket's token together: only the revoked one ends."""
    url = short_token.url
    user, refresh, username = await _register(url)
    second = await _login(url, username)  # the same user, another token
    other, _, other_name = await _register(url)
    revoked = await Socket.open(url, user.token, "graphql-transport-ws")
    kept = [
        await Socket.open(url, second["accessToken"], "graphql-transport-ws"),
        await Socket.open(url, other.token, "graphql-ws"),
    ]
    body = await _post(url, LOGOUT, user.token, r=refresh)
    assert body["data"] == {"logout": True}
    _, code = await _until_closed(revoked, 2)
    assert code == 4401
    await asyncio.sleep(1.5)  # three more checks
    assert [await _me(socket) for socket in kept] == [username, other_name]
    for socket in kept:
        await socket.close()


async def test_deactivating_the_user_closes_the_socket(short_token: Server) -> None:
    url = short_token.url
    admin_name = _create_admin(short_token)  # first: it takes longer than a token lives
    user, _, _ = await _register(url)
    admin = await _login(url, admin_name)
    socket = await Socket.open(url, user.token, "graphql-transport-ws")
    await socket.subscribe("events", AGENT_EVENTS)
    body = await _post(url, DEACTIVATE, admin["accessToken"], id=user.id)
    assert "errors" not in body, body
    _, code = await _until_closed(socket, 2)
    assert code == 4401
    assert "no longer valid" in (socket.ws.close_reason or "")

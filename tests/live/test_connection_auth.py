"""A websocket's token over its lifetime: expiry and revocation close it, renewal extends it.

Real websockets against uvicorn serving the app in this process, on both store columns and
both protocols. The app runs on a FakeClock: a test moves it past a token's `exp` instead of
waiting for it, and the expiry timer fires then. Revocations are found by the real
TokenWatch, checking every CHECK_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from core.enums import Role
from core.settings import Settings
from resolvers.context import AppState
from server.app import create_app
from tests.apps import serving
from tests.conftest import empty_tables
from tests.live.client import STEP_SECONDS, Socket, User
from tests.support import PASSWORD, FakeClock, create_member, wait_until

TTL_SECONDS = 300
CHECK_SECONDS = 0.05
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
    state: AppState
    clock: FakeClock


@pytest.fixture(scope="module")
async def server(settings: Settings) -> AsyncIterator[Server]:
    """The app of the column on a FakeClock, its sockets' revocations checked every 50 ms."""
    clock = FakeClock()
    overrides = {"access_token_ttl_seconds": TTL_SECONDS}
    overrides |= {"websocket_token_check_seconds": CHECK_SECONDS}
    app = create_app(settings.model_copy(update=overrides), clock=clock)
    async with serving(app) as (url, started):
        try:
            yield Server(url, started.state, clock)
        finally:
            await empty_tables(started.state.stores)
            await started.state.rate_limiter.clear()


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


def _expires_at(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


async def _until_closed(socket: Socket) -> tuple[list[dict[str, Any]], int | None]:
    """Messages received until the server closes the socket, and the close code (None when
    it is still open after STEP_SECONDS)."""
    messages = []
    try:
        async with asyncio.timeout(STEP_SECONDS):
            while True:
                messages.append(json.loads(await socket.ws.recv()))
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
async def test_the_socket_closes_when_its_token_expires(server: Server, protocol: str) -> None:
    user, _, username = await _register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    await socket.subscribe("events", AGENT_EVENTS)
    server.clock.advance(_expires_at(user.token) - server.clock.time() - 0.5)
    assert await _me(socket) == username  # half a second before exp: still open
    server.clock.advance(1)
    messages, code = await _until_closed(socket)
    assert code == 4401
    if protocol == "graphql-ws":
        errors = [m for m in messages if m["type"] == "connection_error"]
        assert errors
        assert "expired" in errors[0]["payload"]["message"]
    else:
        assert "expired" in (socket.ws.close_reason or "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_renewal_before_expiry_keeps_the_socket_open(server: Server, protocol: str) -> None:
    user, _, username = await _register(server.url)
    first_expiry = _expires_at(user.token)
    socket = await Socket.open(server.url, user.token, protocol)
    try:
        await socket.subscribe("events", AGENT_EVENTS)
        server.clock.advance(TTL_SECONDS / 2)
        fresh = await _login(server.url, username)
        renewed = (await _renew(socket, fresh["accessToken"]))["data"]["renewConnectionToken"]
        expires_at = datetime.fromisoformat(renewed["expiresAt"]).timestamp()
        assert expires_at == _expires_at(fresh["accessToken"]) >= first_expiry + TTL_SECONDS / 2
        assert renewed["expiresIn"] == int(expires_at - server.clock.time())
        server.clock.advance(first_expiry - server.clock.time() + 1)
        agent_id = await User(server.url, fresh["accessToken"], user.id).create_agent()
        _, event = await socket.next_with_id()  # open past the first token's expiry
        assert event["data"]["agentEvents"]["agentId"] == agent_id
        assert await _me(socket) == username
        server.clock.advance(expires_at - server.clock.time() + 1)  # past the new expiry
        _, code = await _until_closed(socket)
        assert code == 4401
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_renewal_refuses_bad_tokens_and_changes_nothing(
    server: Server, protocol: str
) -> None:
    user, _, username = await _register(server.url)
    other, _, _ = await _register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    try:
        assert _codes(await _renew(socket, "not-a-token")) == ["UNAUTHENTICATED"]
        assert _codes(await _renew(socket, user.token + "x")) == ["UNAUTHENTICATED"]
        assert _codes(await _renew(socket, other.token)) == ["FORBIDDEN"]
        assert await _me(socket) == username
        server.clock.advance(_expires_at(user.token) - server.clock.time() + 1)
        _, code = await _until_closed(socket)  # still the first token's expiry
        assert code == 4401
    finally:
        await socket.close()


async def test_renewal_over_http_is_refused(server: Server) -> None:
    user, _, _ = await _register(server.url)
    body = await _post(server.url, RENEW, user.token, t=user.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "websocket" in body["errors"][0]["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_logout_of_the_token_closes_the_socket(server: Server, protocol: str) -> None:
    user, refresh, _ = await _register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    await socket.subscribe("events", AGENT_EVENTS)
    body = await _post(server.url, LOGOUT, user.token, r=refresh)
    assert body["data"] == {"logout": True}
    messages, code = await _until_closed(socket)
    assert code == 4401
    reason = (
        next(m for m in messages if m["type"] == "connection_error")["payload"]["message"]
        if protocol == "graphql-ws"
        else socket.ws.close_reason
    )
    assert "revoked" in (reason or "")


async def test_a_revocation_closes_only_the_sockets_of_that_token(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process checks every socket's token together: only the revoked one ends."""
    url = server.url
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
    _, code = await _until_closed(revoked)
    assert code == 4401
    tokens = server.state.stores.tokens
    checks = tokens.access_checks
    done = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        result = await checks(*args, **kwargs)
        done.append(result)
        return result

    monkeypatch.setattr(tokens, "access_checks", counted)
    await wait_until(lambda: len(done) >= 3, "the watch checks the tokens three more times")
    assert [await _me(socket) for socket in kept] == [username, other_name]
    for socket in kept:
        await socket.close()


async def test_deactivating_the_user_closes_the_socket(server: Server) -> None:
    admin_name = await create_member(server.state.stores, Role.ADMIN)
    user, _, _ = await _register(server.url)
    admin = await _login(server.url, admin_name)
    socket = await Socket.open(server.url, user.token, "graphql-transport-ws")
    await socket.subscribe("events", AGENT_EVENTS)
    body = await _post(server.url, DEACTIVATE, admin["accessToken"], id=user.id)
    assert "errors" not in body, body
    _, code = await _until_closed(socket)
    assert code == 4401
    assert "no longer valid" in (socket.ws.close_reason or "")

"""Websocket caps: sockets per user and per address, operations per socket, the connection_init
deadline, and a revoked token refused at its next operation.

Real websockets against uvicorn serving the app in this process, on both store columns and
both protocols, with small caps and a FakeClock (the connection_init deadline is stepped
past, not waited for). The token watch checks only once an hour here, so what refuses a
revoked token is the check before each operation.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.errors import ServiceUnavailable
from core.settings import Settings
from resolvers.context import AppState
from server.app import create_app
from server.graphql_app import GraphQLApp
from tests.apps import serving
from tests.conftest import empty_tables
from tests.live.client import STEP_SECONDS, Socket, register
from tests.live.test_connection_auth import LOGOUT, _post, _register
from tests.support import FakeClock, wait_until

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
PER_USER = 2
PER_IP = 2
PER_SOCKET = 2
INIT_TIMEOUT_SECONDS = 5.0
AGENT_EVENTS = "subscription { agentEvents { sequence } }"
ME = "{ me { username } }"
LARGE_DOCUMENT_KB = 20
LONG_ME = ME + "\n#" + "x" * 9_000  # 10 KB of the budget


@dataclass
class Server:
    url: str
    state: AppState
    clock: FakeClock
    view: GraphQLApp


def _caps(settings: Settings) -> Settings:
    """Small caps; a key prefix of this module's own, so no other app's sockets count."""
    return settings.model_copy(
        update={
            "websockets_per_user": PER_USER,
            "websockets_per_ip": PER_IP,
            "subscriptions_per_socket": PER_SOCKET,
            "connection_init_timeout_seconds": INIT_TIMEOUT_SECONDS,
            "websocket_token_check_seconds": 3600,
            "large_document_kb_per_minute": LARGE_DOCUMENT_KB,
            "redis_key_prefix": f"test:{uuid.uuid4().hex[:8]}:",
        }
    )


@pytest.fixture(scope="module")
async def server(settings: Settings) -> AsyncIterator[Server]:
    clock = FakeClock()
    app = create_app(_caps(settings), clock=clock)
    view = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), GraphQLApp))
    async with serving(app) as (url, started):
        try:
            yield Server(url, started.state, clock, view)
        finally:
            await empty_tables(started.state.stores)
            await started.state.rate_limiter.clear()


@pytest.fixture(autouse=True)
async def no_socket_left(server: Server) -> AsyncIterator[None]:
    """Each test starts with no socket open on the server (so none holds a slot)."""
    yield
    await wait_until(lambda: not server.view.connections, "the test's sockets are closed")


async def _open(url: str, protocol: str) -> ClientConnection:
    ws_url = url.replace("http", "ws") + "/graphql"
    return await connect(ws_url, subprotocols=[protocol])  # type: ignore[list-item]


async def _init(ws: ClientConnection, token: str | None) -> None:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))


async def _closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None, str]:
    """The messages until the server closes the socket, its code and reason (code None when
    it is still open after STEP_SECONDS)."""
    messages = []
    try:
        async with asyncio.timeout(STEP_SECONDS):
            while True:
                messages.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return messages, ws.close_code, ws.close_reason or ""
    except TimeoutError:
        return messages, None, ""


def _types(messages: list[dict[str, Any]]) -> list[str]:
    return [message["type"] for message in messages if message["type"] != "ka"]


def _refusal(
    protocol: str, messages: list[dict[str, Any]], reason: str, code: int | None, expected: int
) -> str:
    """The refusal's text: the close reason, after a connection_error on the legacy protocol."""
    assert code == expected, (code, reason, messages)
    if protocol == "graphql-ws":
        assert _types(messages) == ["connection_error"]
        assert messages[-1]["payload"]["message"] == reason
    else:
        assert _types(messages) == []
    return reason


async def _me(socket: Socket, id: str = "me") -> dict[str, Any]:
    await socket.subscribe(id, ME)
    return await socket.next()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_user_over_websockets_per_user_is_closed_with_4429(
    server: Server, protocol: str
) -> None:
    user = await register(server.url)
    held = [await Socket.open(server.url, user.token, protocol) for _ in range(PER_USER)]
    refused = await _open(server.url, protocol)
    await _init(refused, user.token)
    messages, code, reason = await _closed(refused)
    text = _refusal(protocol, messages, reason, code, 4429)
    assert text == f"too many websockets for this user (WEBSOCKETS_PER_USER={PER_USER})"
    other = await register(server.url)  # another user is not affected
    await (await Socket.open(server.url, other.token, protocol)).close()
    await held.pop().close()
    await wait_until(lambda: len(server.view.connections) == 1, "a socket of the user closed")
    again = await Socket.open(server.url, user.token, protocol)
    for socket in [*held, again]:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sockets_not_signed_in_count_against_websockets_per_ip(
    server: Server, protocol: str
) -> None:
    anonymous = await Socket.open(server.url, None, protocol)  # signed in as nobody
    waiting = await _open(server.url, protocol)  # no connection_init yet
    refused = await _open(server.url, protocol)
    messages, code, reason = await _closed(refused)
    text = _refusal(protocol, messages, reason, code, 4429)
    assert text == f"too many websockets from this address (WEBSOCKETS_PER_IP={PER_IP})"
    await waiting.close()
    await anonymous.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_signed_in_socket_leaves_the_address_count(server: Server, protocol: str) -> None:
    user = await register(server.url)
    signed_in = [await Socket.open(server.url, user.token, protocol) for _ in range(PER_USER)]
    anonymous = [await Socket.open(server.url, None, protocol) for _ in range(PER_IP)]
    for socket in [*signed_in, *anonymous]:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_store_down_refuses_new_sockets_with_1013(
    server: Server, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(key: str, cap: int) -> str | None:
        raise ServiceUnavailable("socket counter unavailable")

    monkeypatch.setattr(server.state.stores.socket_slots, "take", down)
    refused = await _open(server.url, protocol)
    messages, code, reason = await _closed(refused)
    text = _refusal(protocol, messages, reason, code, 1013)
    assert text == "socket counter unavailable; try again later"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_connection_init_closes_at_the_deadline(
    server: Server, protocol: str
) -> None:
    user = await register(server.url)
    late = await _open(server.url, protocol)
    in_time = await _open(server.url, protocol)
    await wait_until(lambda: server.clock.pending() == 2, "both sockets' deadlines are set")
    server.clock.advance(INIT_TIMEOUT_SECONDS - 0.5)
    await _init(in_time, user.token)
    assert json.loads(await in_time.recv())["type"] == "connection_ack"
    server.clock.advance(1)
    messages, code, reason = await _closed(late)
    text = _refusal(protocol, messages, reason, code, 4408)
    assert text == "Connection initialisation timeout"
    socket = Socket(in_time, protocol)  # initialised in time: past the deadline, still serving
    assert (await _me(socket))["data"]["me"]["username"]
    await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operations_over_subscriptions_per_socket_are_refused(
    server: Server, protocol: str
) -> None:
    user = await register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    try:
        for n in range(PER_SOCKET):
            await socket.subscribe(f"events-{n}", AGENT_EVENTS)
        await socket.subscribe("one-more", AGENT_EVENTS)
        refused_id, refused = await socket.next_with_id()
        assert refused_id == "one-more"
        (error,) = refused["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "SUBSCRIPTIONS_PER_SOCKET"
        assert (error["extensions"]["maximum"], error["extensions"]["actual"]) == (PER_SOCKET, 3)
        await socket.stop("events-0")
        assert (await _me(socket))["data"]["me"]["username"]  # room again, same socket
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_long_documents_spend_the_users_minute(server: Server, protocol: str) -> None:
    user = await register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    try:
        for n in range(LARGE_DOCUMENT_KB // 10):
            await socket.subscribe(f"long-{n}", LONG_ME)
            assert (await socket.next())["data"]["me"]["username"]
        await socket.subscribe("one-more", LONG_ME)
        refused_id, refused = await socket.next_with_id()
        assert refused_id == "one-more"
        (error,) = refused["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["limit"] == "LARGE_DOCUMENT_KB_PER_MINUTE"
        assert (await _me(socket))["data"]["me"]["username"]  # short ones still run
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_revoked_token_is_refused_at_its_next_operation(
    server: Server, protocol: str
) -> None:
    user, refresh, username = await _register(server.url)
    socket = await Socket.open(server.url, user.token, protocol)
    assert (await _me(socket, "before"))["data"]["me"]["username"] == username
    body = await _post(server.url, LOGOUT, user.token, r=refresh)
    assert body["data"] == {"logout": True}
    refused = await _me(socket, "after")
    (error,) = refused["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == "access token revoked"
    messages, code, reason = await _closed(socket.ws)
    assert code == 4401
    if protocol == "graphql-ws":
        assert [m["payload"]["message"] for m in messages if m["type"] == "connection_error"] == [
            "access token revoked"
        ]
    else:
        assert reason == "access token revoked"


async def test_the_user_cap_counts_across_processes_sharing_redis(settings: Settings) -> None:
    """With Redis every process counts against one cap; embedded (one process), per process."""
    shared = _caps(settings)
    async with (
        serving(create_app(shared)) as (first, _),
        serving(create_app(shared)) as (second, started),
    ):
        user = await register(first)
        held = [await Socket.open(first, user.token, "graphql-transport-ws")]
        held.append(await Socket.open(second, user.token, "graphql-transport-ws"))
        third = await _open(second, "graphql-transport-ws")
        await _init(third, user.token)
        if settings.redis_url:
            _, code, reason = await _closed(third)
            assert (code, reason) == (
                4429,
                "too many websockets for this user (WEBSOCKETS_PER_USER=2)",
            )
        else:
            assert json.loads(await third.recv())["type"] == "connection_ack"
            await third.close()
        for socket in held:
            await socket.close()
        await empty_tables(started.state.stores)

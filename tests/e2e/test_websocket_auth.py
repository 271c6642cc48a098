"""Websocket authentication through connection_init, against a real uvicorn."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import PASSWORD

REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { accessToken } }"""


def _token(server_url: str) -> str:
    response = httpx.post(
        f"{server_url}/graphql",
        json={
            "query": REGISTER,
            "variables": {
                "i": {"username": "wsuser", "email": "ws@example.org", "password": PASSWORD}
            },
        },
        timeout=10,
    )
    token: str = response.json()["data"]["register"]["accessToken"]
    return token


async def test_token_in_connection_init_authenticates(server_url: str) -> None:
    token = _token(server_url)
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ me { username } }"}}
            )
        )
        message = json.loads(await ws.recv())
        assert message["payload"] == {"data": {"me": {"username": "wsuser"}}}


async def _read_until_closed(ws: ClientConnection) -> list[dict[str, object]]:
    """Every message until the server closes (legacy graphql-ws sends connection_error first)."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return messages


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_bad_token_closes_the_socket(server_url: str, protocol: str) -> None:
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}
        await ws.send(json.dumps(init))
        messages = await _read_until_closed(ws)
        assert "connection_ack" not in {message["type"] for message in messages}
    expected = 4403 if protocol == "graphql-transport-ws" else 1011
    assert ws.close_code == expected


async def test_websocket_compression_is_off_by_default(server_url: str) -> None:
    """permessage-deflate costs zlib state per socket and a compression per subscriber."""
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers

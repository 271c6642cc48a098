"""The real server under uvicorn, started by `consciousness serve`, over HTTP and websockets."""

from __future__ import annotations

import json

import httpx
from websockets.asyncio.client import connect


def test_http_query_answers(server_url: str) -> None:
    response = httpx.post(
        f"{server_url}/graphql", json={"query": "{ systemHealth { status } }"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"systemHealth": {"status": "OK"}}}


def test_get_query_answers(server_url: str) -> None:
    response = httpx.get(
        f"{server_url}/graphql",
        params={"query": "{ systemStatus { uptimeSeconds } }"},
        headers={"accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["data"]["systemStatus"]["uptimeSeconds"] >= 0


def test_migrations_ran_on_start(server_url: str) -> None:
    response = httpx.get(f"{server_url}/ready", timeout=10)
    assert response.status_code == 200
    assert response.json()["failing"] == []


async def test_graphql_transport_ws_protocol(server_url: str) -> None:
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "{ systemHealth { status } }"},
                }
            )
        )
        message = json.loads(await ws.recv())
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"systemHealth": {"status": "OK"}}},
        }
        assert json.loads(await ws.recv()) == {"id": "1", "type": "complete"}


async def test_legacy_graphql_ws_protocol(server_url: str) -> None:
    ws_url = server_url.replace("http", "ws") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "start", "payload": {"query": "{ systemStatus { startedAt } }"}}
            )
        )
        message = json.loads(await ws.recv())
        # Queries and mutations run over the legacy protocol too, as subscriptions-transport-ws
        # ran them (renewConnectionToken needs it): one data message, then complete.
        assert message == {
            "id": "1",
            "type": "data",
            "payload": {"data": message["payload"]["data"]},
        }
        assert message["payload"]["data"]["systemStatus"]["startedAt"]
        assert json.loads(await ws.recv()) == {"id": "1", "type": "complete"}

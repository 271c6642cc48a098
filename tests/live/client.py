"""A small GraphQL client for the live tests: HTTP operations and websocket subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support import PASSWORD

STEP_SECONDS = 10
PROBE_WAIT_SECONDS = 0.2  # how long a probe may take to arrive before the next is sent
REGISTER = """mutation($i: RegisterInput!) {
  register(input: $i) { accessToken user { id } } }"""
CREATE = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { id } }"""
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { id status } }"
PROCESS = "mutation($i: ProcessInput!) { process(input: $i) { requestId } }"


@dataclass
class User:
    url: str
    token: str
    id: str

    async def ok(self, query: str, **variables: object) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=STEP_SECONDS) as http:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create_agent(self, name: str = "watched") -> str:
        data = await self.ok(CREATE, i={"name": name, "agentType": "GENERAL"})
        agent_id: str = data["createAgent"]["id"]
        return agent_id

    async def activate(self, agent_id: str) -> None:
        await self.ok(ACTIVATE, id=agent_id)

    async def process(self, agent_id: str, text: str = "Hello, how are you today?") -> None:
        await self.ok(PROCESS, i={"agentId": agent_id, "input": text})


async def register(url: str, on: str | None = None) -> User:
    """A new user registered on `url` (its token also used on `on` when given)."""
    name = f"live{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=url, timeout=STEP_SECONDS) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": REGISTER,
                "variables": {
                    "i": {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
                },
            },
        )
    data = response.json()["data"]["register"]
    return User(on or url, data["accessToken"], data["user"]["id"])


class Socket:
    """One websocket speaking graphql-transport-ws or the legacy graphql-ws."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.legacy = protocol == "graphql-ws"

    @classmethod
    async def open(cls, url: str, token: str | None, protocol: str) -> Socket:
        ws_url = url.replace("http", "ws") + "/graphql"
        ws = await connect(ws_url, subprotocols=[protocol])  # type: ignore[list-item]
        socket = cls(ws, protocol)
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert (await socket._receive())["type"] == "connection_ack"
        return socket

    async def _receive(self) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.ws.recv(), STEP_SECONDS)
            )
            if message["type"] not in {"ka", "ping", "pong"}:
                return message

    async def subscribe(self, id: str, query: str, **variables: object) -> None:
        kind = "start" if self.legacy else "subscribe"
        payload = {"query": query, "variables": variables}
        await self.ws.send(json.dumps({"id": id, "type": kind, "payload": payload}))

    async def stop(self, id: str) -> None:
        await self.ws.send(json.dumps({"id": id, "type": "stop" if self.legacy else "complete"}))

    async def next_with_id(self) -> tuple[str, dict[str, Any]]:
        """The next result and its subscription id: {"data": …} or {"errors": […]}.

        "complete" messages (sent after an error too) are skipped.
        """
        while True:
            message = await self._receive()
            if message["type"] in {"next", "data"}:
                return message["id"], message["payload"]
            if message["type"] == "error":
                errors = message["payload"]
                return message["id"], {"errors": errors if isinstance(errors, list) else [errors]}
            if message["type"] != "complete":
                raise AssertionError(f"unexpected message {message}")

    async def next(self) -> dict[str, Any]:
        return (await self.next_with_id())[1]

    async def data_by_id(self, count: int) -> dict[str, dict[str, Any]]:
        """The data of the next `count` results, by subscription id (one each)."""
        results = {}
        for _ in range(count):
            id, result = await self.next_with_id()
            assert not result.get("errors"), result
            results[id] = result["data"]
        return results

    async def data(self, field: str) -> dict[str, Any]:
        result = await self.next()
        assert not result.get("errors"), result
        value: dict[str, Any] = result["data"][field]
        return value

    async def close(self) -> None:
        await self.ws.close()


Subscriptions = dict[Socket, set[str]]  # the subscription ids of each socket


async def until_live(probe: Callable[[], Awaitable[object]], subscriptions: Subscriptions) -> int:
    """Send probe events until each subscription has delivered one; returns how many went.

    No protocol acknowledges a subscription: an event that arrives is the proof it is live.
    Each probe must add one event to the fresh topic of every subscription, so the k-th
    arrives as `sequence` k. Every socket is read up to the last probe before returning.
    """
    last = {(socket, id): 0 for socket, ids in subscriptions.items() for id in ids}
    probes = 0
    try:
        async with asyncio.timeout(STEP_SECONDS):
            while not all(last.values()):
                await probe()
                probes += 1
                for socket in subscriptions:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PROBE_WAIT_SECONDS):
                            await _read_up_to(socket, last, probes)
            for socket in subscriptions:
                await _read_up_to(socket, last, probes)
    except TimeoutError:
        pytest.fail(f"subscriptions not live after {probes} probes: {last}")
    return probes


async def _read_up_to(socket: Socket, last: dict[tuple[Socket, str], int], sequence: int) -> None:
    """Read `socket` until each of its subscriptions in `last` has delivered `sequence`."""
    while any(seen < sequence for (s, _), seen in last.items() if s is socket):
        id, result = await socket.next_with_id()
        assert (socket, id) in last, result
        assert not result.get("errors"), result
        (event,) = result["data"].values()
        last[(socket, id)] = event["sequence"]

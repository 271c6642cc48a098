"""/metrics of a real server while websockets and subscriptions are open, then closed."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.live.client import Socket, register
from tests.servers import embedded_env, serve
from tests.support import wait_until

EVENTS = "subscription { agentEvents { kind } }"
NONE = {"websockets_active": 0, "graphql_subscriptions_active": 0, "broker_subscriptions_active": 0}


async def gauges(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name
        in {"websockets_active", "graphql_subscriptions_active", "broker_subscriptions_active"}
    }


async def _gauges_are(url: str, expected: dict[str, float]) -> bool:
    return await gauges(url) == expected


async def test_open_websockets_and_subscriptions_are_counted(tmp_path: Path) -> None:
    with serve(tmp_path, embedded_env(tmp_path), ready_path="/ready") as (url, _process):
        user = await register(url)
        assert await gauges(url) == NONE
        sockets = [
            await Socket.open(url, user.token, protocol)
            for protocol in ("graphql-transport-ws", "graphql-ws")
        ]
        for socket in sockets:
            await socket.subscribe("1", EVENTS)
        live = {
            "websockets_active": 2,
            "graphql_subscriptions_active": 2,
            "broker_subscriptions_active": 1,  # one topic: the two share it
        }
        # the in-process broker counts a subscriber once it listens
        await wait_until(lambda: _gauges_are(url, live), f"the gauges read {live}")
        await user.create_agent()  # each subscription sees it: both are live
        for socket in sockets:
            assert (await socket.next())["data"]["agentEvents"]["kind"] == "CREATED"
        assert await gauges(url) == live

        for socket in sockets:
            await socket.ws.close()
        await wait_until(lambda: _gauges_are(url, NONE), "the server notices the closes")

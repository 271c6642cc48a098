"""/metrics of a real server while websockets and subscriptions are open, then closed."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live.client import Socket, register
from tests.servers import embedded_env, serve
from tests.support import wait_until

EVENTS = "subscription { agentEvents { kind } }"
NONE = {"websockets_active": 0, "graphql_subscriptions_active": 0, "broker_subscriptions_active": 0}


async def gauges(url: str, names: frozenset[str] = frozenset(NONE)) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name in names
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


FDS = frozenset({"process_open_fds", "process_max_fds", "websockets_active"})


async def _sockets_open(url: str, count: int) -> bool:
    return (await gauges(url, FDS))["websockets_active"] == count


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="process_open_fds and process_max_fds are read from /proc",
)
async def test_open_file_descriptors_and_their_limit_are_read_at_scrape_time(
    tmp_path: Path,
) -> None:
    """What deploy/prometheus/alerts.yml's WebsocketsNearFdLimit divides: each websocket
    holds a descriptor, and the limit is the process's soft RLIMIT_NOFILE of the moment."""
    with serve(tmp_path, embedded_env(tmp_path), ready_path="/ready") as (url, process):
        user = await register(url)
        _, hard = resource.prlimit(process.pid, resource.RLIMIT_NOFILE)
        limit = 1000 if hard == resource.RLIM_INFINITY else min(1000, hard)
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (limit, hard))
        before = await gauges(url, FDS)
        assert before["process_max_fds"] == limit
        assert 0 < before["process_open_fds"] < limit
        sockets = [await Socket.open(url, user.token, "graphql-transport-ws") for _ in range(10)]
        await wait_until(lambda: _sockets_open(url, 10), "the server counts 10 websockets")
        during = await gauges(url, FDS)
        assert during["process_open_fds"] >= before["process_open_fds"] + 10
        for socket in sockets:
            await socket.ws.close()
        await wait_until(lambda: _sockets_open(url, 0), "the server notices the closes")
        after = await gauges(url, FDS)
        assert after["process_open_fds"] < during["process_open_fds"]

"""Grouped fan-out: same operation, variables and principal share one execution per event.

Real websockets against uvicorn: on the `consciousness serve` servers of both columns for
what clients see, and on an in-process uvicorn where the test can look at the groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from auth.permissions import Principal
from core.enums import Role, Tier
from resolvers.context import Context
from server.app import create_app
from server.fanout import GROUPABLE_MAX_CHARS, group_key, is_groupable
from server.graphql_app import GraphQLApp
from server.startup import prepare_stores
from tests.apps import serving
from tests.conftest import make_settings
from tests.live.client import Socket, register, until_live
from tests.support import wait_until

AGENT_EVENTS = "subscription { agentEvents { sequence kind agentId ownerId } }"
ONE_AGENT = """subscription($agentId: UUID) {
  agentEvents(agentId: $agentId) { sequence kind agentId } }"""
STATE = """subscription($agentId: UUID!) {
  consciousnessStateChanged(agentId: $agentId) { sequence recentSessions(first: 10) { requestId } }
}"""
STATE_WITH_SINCE = """subscription($agentId: UUID!, $since: Int) {
  consciousnessStateChanged(agentId: $agentId, since: $since) {
    sequence recentSessions(first: 10) { requestId } }
}"""


def test_only_subscriptions_anyone_can_join_late_are_grouped() -> None:
    assert is_groupable(AGENT_EVENTS, None)
    assert is_groupable(ONE_AGENT, None)
    assert is_groupable(STATE, None)
    assert not is_groupable(STATE_WITH_SINCE, None)  # `since` replays per subscriber
    assert not is_groupable("subscription { metrics(throttleMs: 100) { sequence } }", None)
    assert not is_groupable("subscription { metricsSummary { count } }", None)
    assert not is_groupable("{ me { id } }", None)
    assert not is_groupable("subscription { agentEvents { sequence", None)
    assert not is_groupable(
        "subscription($s: Boolean!) { agentEvents @include(if: $s) { sequence } }", None
    )
    two = "subscription A { agentEvents { sequence } } subscription B { metricsSummary { count } }"
    assert is_groupable(two, "A")
    assert not is_groupable(two, "B")
    assert not is_groupable(two, None)


def test_long_documents_run_ungrouped_without_being_parsed_here() -> None:
    """The grouping check parses before strawberry's size and token limits: keep it short."""
    principal = Principal("u", "ada", (Role.USER,), frozenset(), Tier.BASIC, "j", 0.0, 1.0)
    context = cast(Context, SimpleNamespace(current_principal=principal))
    assert group_key(context, AGENT_EVENTS, None, None) is not None
    padded = AGENT_EVENTS.replace("sequence", "sequence" + " sequence" * GROUPABLE_MAX_CHARS)
    assert is_groupable(padded, None)  # groupable in itself
    assert group_key(context, padded, None, None) is None


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_grouped_subscribers_each_get_every_event_and_only_their_own(
    server_url: str, protocol: str
) -> None:
    owner = await register(server_url)
    stranger = await register(server_url)
    mine = [await Socket.open(server_url, owner.token, protocol) for _ in range(3)]
    theirs = await Socket.open(server_url, stranger.token, protocol)
    sockets = [*mine, theirs]
    try:
        for socket in sockets:
            await socket.subscribe("events", AGENT_EVENTS)
        await until_live(lambda: owner.create_agent("probe"), {s: {"events"} for s in mine})
        await until_live(lambda: stranger.create_agent("probe"), {theirs: {"events"}})
        first = await owner.create_agent("one")
        second = await owner.create_agent("two")
        their_agent = await stranger.create_agent("theirs")
        frames = []
        for socket in mine:
            raw = await asyncio.wait_for(socket.ws.recv(), 10)
            assert isinstance(raw, str)  # text frames, as the protocols require
            frames.append(json.loads(raw))
            assert (await socket.data("agentEvents"))["agentId"] == second
        assert all(frame["payload"] == frames[0]["payload"] for frame in frames)
        assert frames[0]["payload"]["data"]["agentEvents"]["agentId"] == first
        assert (await theirs.data("agentEvents"))["agentId"] == their_agent
        after = await owner.create_agent("after")
        for socket in mine:  # the stranger's event, published before, reached the stranger only
            assert (await socket.data("agentEvents"))["agentId"] == after
    finally:
        for socket in sockets:
            await socket.close()


@pytest.mark.parametrize("query", [STATE, STATE_WITH_SINCE], ids=["grouped", "alone"])
async def test_each_event_resolves_with_fresh_loaders(server_url: str, query: str) -> None:
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    await owner.activate(agent_id)
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("state", query, agentId=agent_id)
        probes = await until_live(lambda: owner.process(agent_id), {socket: {"state"}})
        counts = []
        for _ in range(3):
            await owner.process(agent_id)
            event = await socket.data("consciousnessStateChanged")
            counts.append(len(event["recentSessions"]))
        assert counts == [probes + 1, probes + 2, probes + 3]  # a cached loader: all alike
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_each_query_on_a_websocket_resolves_with_fresh_loaders(
    server_url: str, protocol: str
) -> None:
    """The socket's context outlives its operations; its loaders must not."""
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    await owner.activate(agent_id)
    socket = await Socket.open(server_url, owner.token, protocol)
    query = "query($a: UUID!) { agent(id: $a) { recentSessions(first: 10) { requestId } } }"
    try:
        counts = []
        for n in range(3):
            await owner.process(agent_id)
            await socket.subscribe(f"q{n}", query, a=agent_id)
            counts.append(len((await socket.data("agent"))["recentSessions"]))
        assert counts == [1, 2, 3]  # one set of loaders per socket would answer 1, 1, 1
    finally:
        await socket.close()


@contextlib.asynccontextmanager
async def _in_process_server(
    tmp_path: Path, grouping: bool
) -> AsyncIterator[tuple[str, GraphQLApp]]:
    """uvicorn serving create_app in this event loop, and the app's GraphQL view."""
    settings = make_settings(tmp_path, subscription_grouping=grouping)
    await prepare_stores(settings)
    app = create_app(settings)
    view = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), GraphQLApp))
    async with serving(app) as (url, _):
        yield url, view


async def test_one_execution_per_event_for_a_group(tmp_path: Path) -> None:
    async with _in_process_server(tmp_path, grouping=True) as (url, view):
        owner = await register(url)
        stranger = await register(url)
        agent_id = await owner.create_agent()
        same = [
            await Socket.open(url, owner.token, p)
            for p in ["graphql-ws"] * 2 + ["graphql-transport-ws"]
        ]
        narrower = await Socket.open(url, owner.token, "graphql-transport-ws")
        other_user = await Socket.open(url, stranger.token, "graphql-transport-ws")
        sockets = [*same, narrower, other_user]
        for socket in same:
            await socket.subscribe("1", ONE_AGENT)
        await narrower.subscribe("1", ONE_AGENT, agentId=agent_id)
        await other_user.subscribe("1", ONE_AGENT)
        await wait_until(
            lambda: sum(len(g.members) for g in view.fanout.groups.values()) == 5,
            "the five subscriptions joined their groups",
        )
        sizes = sorted(len(group.members) for group in view.fanout.groups.values())
        assert sizes == [1, 1, 3]  # by variables and by user
        await owner.activate(agent_id)
        for socket in [*same, narrower]:
            assert (await socket.data("agentEvents"))["kind"] == "STATUS_CHANGED"
        shared = next(g for g in view.fanout.groups.values() if len(g.members) == 3)
        assert shared.executions == 1
        for socket in sockets:
            await socket.close()
        # the last member out stops the group
        await wait_until(lambda: view.fanout.groups == {}, "every group stopped")


async def test_grouping_can_be_switched_off(tmp_path: Path) -> None:
    async with _in_process_server(tmp_path, grouping=False) as (url, view):
        owner = await register(url)
        sockets = [await Socket.open(url, owner.token, "graphql-transport-ws") for _ in range(2)]
        for socket in sockets:
            await socket.subscribe("1", AGENT_EVENTS)
        await until_live(lambda: owner.create_agent("probe"), {s: {"1"} for s in sockets})
        agent_id = await owner.create_agent()
        for socket in sockets:
            assert (await socket.data("agentEvents"))["agentId"] == agent_id
        assert view.fanout.groups == {}
        for socket in sockets:
            await socket.close()

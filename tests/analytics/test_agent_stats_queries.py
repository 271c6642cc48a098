"""Agent stats missed by concurrent callers are queried once: a caller waits for the query
in flight that asks for its agents, gets its error, and asks again if that caller gave up."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from core.errors import ServiceUnavailable
from db.analytics_queries import AgentStats
from db.stores import Stores
from resolvers.loaders import fetch_agent_stats


class GatedAnalytics:
    """query_rows answering each agent with `count` requests once `release` is set."""

    def __init__(self, count: int = 3) -> None:
        self.count = count
        self.queried: list[list[uuid.UUID]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        assert parameters is not None
        self.queried.append(list(parameters["agent_ids"]))
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return [(agent_id, self.count, 0.5, 0.75, 12.0) for agent_id in parameters["agent_ids"]]


@pytest.fixture
def gated(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> GatedAnalytics:
    analytics = GatedAnalytics()
    monkeypatch.setattr(stores.analytics, "query_rows", analytics.query_rows)
    stores.agent_stats.clear()
    return analytics


Fetch = asyncio.Task[dict[uuid.UUID, AgentStats]]


async def two_callers(
    stores: Stores, gated: GatedAnalytics, agent: uuid.UUID
) -> tuple[Fetch, Fetch]:
    """A first caller whose query for `agent` is in flight, and a second one waiting for it."""
    first = asyncio.create_task(fetch_agent_stats(stores, [agent]))
    await gated.entered.wait()
    second = asyncio.create_task(fetch_agent_stats(stores, [agent]))
    await asyncio.sleep(0)
    return first, second


async def test_callers_missing_the_same_agents_at_once_send_one_query(
    stores: Stores, gated: GatedAnalytics
) -> None:
    a, b, c = (uuid.uuid4() for _ in range(3))
    first = asyncio.create_task(fetch_agent_stats(stores, [a, b]))
    await gated.entered.wait()
    second = asyncio.create_task(fetch_agent_stats(stores, [b, c]))
    third = asyncio.create_task(fetch_agent_stats(stores, [a]))
    await asyncio.sleep(0)  # both reach their lookups while the first query is in flight
    gated.release.set()
    stats = AgentStats(3, 0.5, 0.75, 12.0)
    assert await first == {a: stats, b: stats}
    assert await second == {b: stats, c: stats}
    assert await third == {a: stats}
    assert gated.queried == [[a, b], [c]]  # c alone was not in flight
    assert await fetch_agent_stats(stores, [a, b, c]) == {a: stats, b: stats, c: stats}
    assert len(gated.queried) == 2  # and now all three are cached


async def test_a_waiting_caller_gets_the_error_of_the_query_it_waited_for(
    stores: Stores, gated: GatedAnalytics
) -> None:
    agent = uuid.uuid4()
    gated.error = ConnectionRefusedError("connection refused")
    first, second = await two_callers(stores, gated, agent)
    gated.release.set()
    for caller in (first, second):
        with pytest.raises(ServiceUnavailable, match="analytics store is down"):
            await caller
    assert len(gated.queried) == 1


async def test_a_caller_whose_query_was_abandoned_asks_again(
    stores: Stores, gated: GatedAnalytics
) -> None:
    agent = uuid.uuid4()
    first, second = await two_callers(stores, gated, agent)
    first.cancel()  # e.g. the first caller's time limit
    with pytest.raises(asyncio.CancelledError):
        await first
    gated.release.set()
    assert await second == {agent: AgentStats(3, 0.5, 0.75, 12.0)}
    assert gated.queried == [[agent], [agent]]


async def test_a_cancelled_waiter_leaves_the_query_to_the_others(
    stores: Stores, gated: GatedAnalytics
) -> None:
    agent = uuid.uuid4()
    first, second = await two_callers(stores, gated, agent)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    gated.release.set()
    assert await first == {agent: AgentStats(3, 0.5, 0.75, 12.0)}
    assert len(gated.queried) == 1

"""Agent stats and recent sessions from consciousness_sessions, and the DataLoaders' SQL bound."""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from db.stores import Stores
from tests.agents.conftest import Caller, MakeCaller, insert_agents, insert_sessions

AGENT_WITH_SESSIONS = """
query($id: UUID!, $recent: Int! = 5) {
  agent(id: $id) {
    stats { requestCount meanAwareness meanEthicalScore p95ProcessingTimeMs }
    recentSessions(first: $recent) {
      id requestId createdAt awarenessLevel ethicalScore confidence processingTimeMs blocked
    }
  }
}
"""
NESTED_LIST = """
{ agents(first: 100) { edges { node {
    owner { username } stats { requestCount p95ProcessingTimeMs } recentSessions { id }
} } } }
"""


def nearest_rank_p95(values: list[float]) -> float:
    """The value at rank ceil(0.95 n) of the sorted values (1-based): the documented p95."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


@pytest.mark.parametrize("count", [1, 2, 19, 20, 21, 40, 101])
async def test_stats_match_python_with_the_nearest_rank_p95(
    caller: MakeCaller, stores: Stores, count: int
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Busy")
    # Distinct, shuffled times so the rank that is picked matters.
    times = [float((index * 37) % 101) + index / 1000 for index in range(count)]
    rows = await insert_sessions(stores, uuid.UUID(agent["id"]), alice.user_id, times)
    other = await alice.create("Other")  # another agent's sessions must not count
    await insert_sessions(stores, uuid.UUID(other["id"]), alice.user_id, [9999.0] * 5)

    stats = (await alice.ok(AGENT_WITH_SESSIONS, id=agent["id"]))["agent"]["stats"]
    assert stats["requestCount"] == count
    assert stats["meanAwareness"] == pytest.approx(
        statistics.fmean(r.awareness_level for r in rows)
    )
    assert stats["meanEthicalScore"] == pytest.approx(
        statistics.fmean(r.ethical_score for r in rows)
    )
    assert stats["p95ProcessingTimeMs"] == pytest.approx(nearest_rank_p95(times))


async def test_an_agent_without_sessions_has_zero_requests_and_null_means(
    caller: MakeCaller,
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Idle")
    data = (await alice.ok(AGENT_WITH_SESSIONS, id=agent["id"]))["agent"]
    assert data == {
        "stats": {
            "requestCount": 0,
            "meanAwareness": None,
            "meanEthicalScore": None,
            "p95ProcessingTimeMs": None,
        },
        "recentSessions": [],
    }


async def test_recent_sessions_are_the_newest_first_without_texts(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Chatty")
    rows = await insert_sessions(stores, uuid.UUID(agent["id"]), alice.user_id, [5.0] * 8)
    data = (await alice.ok(AGENT_WITH_SESSIONS, id=agent["id"], recent=3))["agent"]
    newest = list(reversed(rows))[:3]
    assert [s["id"] for s in data["recentSessions"]] == [str(r.id) for r in newest]
    first = data["recentSessions"][0]
    assert first["requestId"] == str(newest[0].request_id)
    assert first["awarenessLevel"] == pytest.approx(newest[0].awareness_level)
    assert first["blocked"] is newest[0].blocked
    default = (await alice.ok(AGENT_WITH_SESSIONS, id=agent["id"]))["agent"]["recentSessions"]
    assert len(default) == 5


@contextmanager
def counting_statements(stores: Stores) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = stores.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _nested_statements(caller: Caller, stores: Stores) -> int:
    with counting_statements(stores) as statements:
        data = await caller.ok(NESTED_LIST)
    assert all(
        edge["node"]["owner"]["username"] == caller.username for edge in data["agents"]["edges"]
    )
    return len(statements)


async def test_listing_agents_with_owner_stats_and_sessions_costs_a_constant_number_of_queries(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    few = await insert_agents(stores, alice.user_id, 5, prefix="few")
    for agent in few:
        await insert_sessions(stores, agent.id, alice.user_id, [1.0, 2.0, 3.0])
    with_five = await _nested_statements(alice, stores)

    many = await insert_agents(stores, alice.user_id, 95, prefix="many")
    for agent in many[::10]:
        await insert_sessions(stores, agent.id, alice.user_id, [4.0, 5.0])
    data = await alice.ok(NESTED_LIST)
    assert len(data["agents"]["edges"]) == 100
    with_hundred = await _nested_statements(alice, stores)

    # count + page, then one query each for owners, stats and recent sessions.
    assert with_five == with_hundred == 5

"""Agent stats (from analytics), recent sessions, and the DataLoaders' bound on queries."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from db.stores import Stores
from db.vector_queue import STATEMENT_TAG
from tests.agents.conftest import Caller, MakeCaller, insert_agents, insert_sessions
from tests.analytics.conftest import Metrics, make_row, metrics, percentile
from tests.apps import Running
from tests.consciousness.conftest import PROCESS, active_agent, process_input
from tests.support import wait_until

__all__ = ["metrics"]

WRITER_FLUSH_DEADLINE_SECONDS = 10  # the writer flushes every 0.5 s by default

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


@pytest.mark.parametrize("count", [1, 2, 19, 20, 21, 40, 101])
async def test_stats_come_from_the_agents_metrics_rows(
    caller: MakeCaller, metrics: Metrics, count: int
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Busy")
    agent_id = uuid.UUID(agent["id"])
    rows = await metrics.insert([make_row(alice.user_id, agent_id, i) for i in range(count)])
    other = await alice.create("Other")  # another agent's rows must not count
    await metrics.insert(
        [
            make_row(alice.user_id, uuid.UUID(other["id"]), i, processing_time_ms=9999.0)
            for i in range(5)
        ]
    )

    stats = (await alice.ok(AGENT_WITH_SESSIONS, id=agent["id"]))["agent"]["stats"]
    assert stats["requestCount"] == count
    assert stats["meanAwareness"] == pytest.approx(
        statistics.fmean(r["awareness_level"] for r in rows)
    )
    assert stats["meanEthicalScore"] == pytest.approx(
        statistics.fmean(r["ethical_score"] for r in rows)
    )
    times = [r["processing_time_ms"] for r in rows]
    assert stats["p95ProcessingTimeMs"] == pytest.approx(percentile(times, 0.95))


async def test_processed_requests_reach_the_stats_after_the_writer_flushes(
    caller: MakeCaller, metrics: Metrics
) -> None:
    """The whole path: process → metrics writer → ClickHouse → the stats DataLoader."""
    alice = await caller("alice")
    metrics.track(alice.user_id)
    agent_id = await active_agent(alice, "Talker")
    for text in ("Hello there.", "How are you today?"):
        await alice.ok(PROCESS, input=process_input(agent_id, text))
    stats: dict[str, Any] = {}

    async def both_counted() -> bool:
        stats.update((await alice.ok(AGENT_WITH_SESSIONS, id=agent_id))["agent"]["stats"])
        return bool(stats["requestCount"] == 2)

    await wait_until(both_counted, "both requests reach the stats", WRITER_FLUSH_DEADLINE_SECONDS)
    assert 0 <= stats["meanAwareness"] <= 1


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
    caller: MakeCaller, app: Running
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Chatty")
    rows = await insert_sessions(app, uuid.UUID(agent["id"]), alice.user_id, [5.0] * 8)
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
def counting_statements(stores: Stores) -> Iterator[tuple[list[str], list[str]]]:
    """The SQL statements sent to the database and the queries sent to the analytics store,
    but for the background polls, each on its own schedule: the analytics writer's of the
    metrics outbox, the ingestion worker's of the OTLP queue, the vector writer's of the
    sessions to embed."""
    background = ("metrics_outbox", "ingest_queue", STATEMENT_TAG)
    statements: list[str] = []
    analytics: list[str] = []

    def count(*args: Any) -> None:
        if not any(marker in args[2] for marker in background):
            statements.append(args[2])

    query_rows = stores.analytics.query_rows

    async def count_analytics(sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        analytics.append(sql)
        return await query_rows(sql, parameters)

    engine = stores.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    stores.analytics.query_rows = count_analytics  # type: ignore[method-assign]
    try:
        yield statements, analytics
    finally:
        event.remove(engine, "before_cursor_execute", count)
        del stores.analytics.query_rows


async def _nested_queries(caller: Caller, stores: Stores) -> tuple[int, int]:
    with counting_statements(stores) as (statements, analytics):
        data = await caller.ok(NESTED_LIST)
    assert all(
        edge["node"]["owner"]["username"] == caller.username for edge in data["agents"]["edges"]
    )
    return len(statements), len(analytics)


async def test_listing_agents_with_owner_stats_and_sessions_costs_a_constant_number_of_queries(
    caller: MakeCaller, stores: Stores, app: Running, metrics: Metrics
) -> None:
    alice = await caller("alice")
    few = await insert_agents(stores, alice.user_id, 5, prefix="few")
    for agent in few:
        await insert_sessions(app, agent.id, alice.user_id, [1.0, 2.0, 3.0])
        await metrics.insert([make_row(alice.user_id, agent.id, i) for i in range(3)])
    stores.agent_stats.clear()  # counted cold: every listed agent's stats read
    with_five = await _nested_queries(alice, stores)

    many = await insert_agents(stores, alice.user_id, 95, prefix="many")
    for agent in many[::10]:
        await insert_sessions(app, agent.id, alice.user_id, [4.0, 5.0])
        await metrics.insert([make_row(alice.user_id, agent.id, i) for i in range(2)])
    data = await alice.ok(NESTED_LIST)
    assert len(data["agents"]["edges"]) == 100
    stores.agent_stats.clear()
    with_hundred = await _nested_queries(alice, stores)

    # Database: the page, then one query for recent sessions (no count: totalCount is not
    # selected; no owners: the caller's token answers `username`); analytics: one query for
    # every agent's stats.
    assert with_five == with_hundred == (2, 1)


async def test_an_unreachable_analytics_store_nulls_only_the_stats(
    caller: MakeCaller, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Patient")

    async def unreachable(sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(stores.analytics, "query_rows", unreachable)
    body = await alice.send(
        "query($id: UUID!) { agent(id: $id) { name stats { requestCount } } }", id=agent["id"]
    )
    assert body["data"] == {"agent": {"name": "Patient", "stats": None}}
    [error] = body["errors"]
    assert error["path"] == ["agent", "stats"]
    assert "analytics store" in error["message"]

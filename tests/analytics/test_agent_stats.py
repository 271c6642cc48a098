"""agent_daily_stats: the agents' stats it gives are those of their metrics rows, after
inserts, replays and deletions, and reading them costs the same however many rows other
agents have."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from db.analytics_migrations import (
    AGENT_STATS_TABLE,
    METRICS_TABLE,
    apply_retention,
    retention_days_of_table,
)
from db.analytics_queries import build_agent_stats
from db.stores import Stores
from resolvers.analytics import delete_user_metrics
from tests.analytics.conftest import BASE, Metrics, make_row

# What the stats were before agent_daily_stats: the same aggregates over the raw rows.
RAW_STATS = f"""
SELECT agent_id, count(), avg(awareness_level), avg(ethical_score),
       quantileExact(0.95)(processing_time_ms)
FROM {METRICS_TABLE} WHERE agent_id IN {{agent_ids:Array(UUID)}} GROUP BY agent_id
"""
INDEX_GRANULARITY = 256  # agent_daily_stats' (0002)
OTHER_AGENTS = 10_000
# Five rows of each of the given agents, one user's, in one insert made by ClickHouse.
OTHER_AGENTS_ROWS = f"""
INSERT INTO {METRICS_TABLE}
SELECT now64(3) - toIntervalSecond(number), generateUUIDv4(), {{user:UUID}},
       arrayElement({{agents:Array(UUID)}}, number % length({{agents:Array(UUID)}}) + 1),
       number % 100, 0.5, 0.5, 0.5, 0.5, 0, 0.5, false, false, [], 10, 1, 100, NULL,
       'graphql', '', '', 0, 0, '', ''
FROM numbers(5 * length({{agents:Array(UUID)}}))
"""


async def stats_of(stores: Stores, agent_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
    query = build_agent_stats(agent_ids)
    rows = await stores.analytics.query_rows(query.sql, query.parameters)
    return {row[0]: tuple(row[1:]) for row in rows}


async def raw_stats_of(
    stores: Stores, agent_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[Any, ...]]:
    rows = await stores.analytics.query_rows(RAW_STATS, {"agent_ids": agent_ids})
    return {row[0]: tuple(row[1:]) for row in rows}


async def assert_stats_match_the_rows(stores: Stores, agent_ids: list[uuid.UUID]) -> None:
    """Counts and p95 equal; means equal up to the order floating-point sums were added in."""
    stats, raw = await stats_of(stores, agent_ids), await raw_stats_of(stores, agent_ids)
    assert stats.keys() == raw.keys()
    for agent_id, (count, awareness, ethical, p95) in raw.items():
        assert stats[agent_id] == (count, pytest.approx(awareness), pytest.approx(ethical), p95)


async def test_agent_stats_are_those_of_the_agents_metrics_rows(
    stores: Stores, metrics: Metrics
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    agents = [uuid.uuid4() for _ in range(3)]
    for day in range(3):  # several days, users and batches per agent
        for user in (alice, bob):
            await metrics.insert(
                [
                    make_row(
                        user, agent, 7 * day + index, at=BASE - timedelta(days=day, minutes=index)
                    )
                    for index, agent in enumerate(agents * (day + 2))
                ]
            )
    await assert_stats_match_the_rows(stores, agents)
    assert (await stats_of(stores, agents[:1]))[agents[0]][0] == 2 * (2 + 3 + 4)


async def test_a_replayed_batch_counts_once_in_the_agent_stats(
    stores: Stores, metrics: Metrics
) -> None:
    """The writer re-sends a batch with its token when it cannot tell whether it arrived."""
    user, agent = uuid.uuid4(), uuid.uuid4()
    metrics.track(user)
    rows, token = [make_row(user, agent, index) for index in range(5)], uuid.uuid4().hex
    for _ in range(2):
        await stores.analytics.insert_metrics(rows, token)
    await assert_stats_match_the_rows(stores, [agent])
    assert (await stats_of(stores, [agent]))[agent][0] == 5


async def test_deleting_a_users_or_an_agents_rows_deletes_them_from_the_agent_stats(
    stores: Stores, metrics: Metrics
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    shared, own = uuid.uuid4(), uuid.uuid4()  # `shared` ran for both users
    await metrics.insert([make_row(erased, agent, i) for i in range(4) for agent in (shared, own)])
    await metrics.insert(
        [make_row(kept, shared, i, processing_time_ms=500.0 + i) for i in range(3)]
    )

    await delete_user_metrics(stores, erased)  # account erasure
    await assert_stats_match_the_rows(stores, [shared, own])
    assert list(await stats_of(stores, [shared, own])) == [shared]
    assert (await stats_of(stores, [shared]))[shared][::3] == (3, 502.0)

    await stores.analytics.delete_metrics(agent_id=shared)  # agent deletion
    assert await stats_of(stores, [shared, own]) == {}
    rows = await stores.analytics.query_rows(
        f"SELECT count() FROM {AGENT_STATS_TABLE} WHERE agent_id IN {{a:Array(UUID)}}",
        {"a": [shared, own]},
    )
    assert rows[0][0] == 0


async def estimated_rows(stores: Stores, agent_ids: list[uuid.UUID]) -> int:
    """The rows ClickHouse plans to read for the stats of `agent_ids` (EXPLAIN ESTIMATE)."""
    query = build_agent_stats(agent_ids)
    rows = await stores.analytics.query_rows(f"EXPLAIN ESTIMATE {query.sql}", query.parameters)
    return sum(int(row[3]) for row in rows)  # (database, table, parts, rows, marks)


async def test_reading_a_pages_stats_does_not_grow_with_other_agents_rows(
    stores: Stores, metrics: Metrics
) -> None:
    user, others = uuid.uuid4(), uuid.uuid4()
    page = [uuid.uuid4() for _ in range(3)]
    await metrics.insert([make_row(user, agent, i) for i in range(5) for agent in page])
    before = await estimated_rows(stores, page)

    metrics.track(others)
    other_agents = [uuid.uuid4() for _ in range(OTHER_AGENTS)]  # their keys among the page's
    await stores.analytics.command(OTHER_AGENTS_ROWS, {"user": others, "agents": other_agents})
    added = await stores.analytics.query_rows(
        f"SELECT count() FROM {AGENT_STATS_TABLE} WHERE user_id = {{u:UUID}}",
        {"u": others},
    )
    assert added[0][0] >= OTHER_AGENTS  # a row per agent and day at least

    # The read looks the page's agents up by key: a granule or two more per agent (where
    # the new rows sit beside theirs) at most, not the 10,000 new rows.
    after = await estimated_rows(stores, page)
    assert after - before <= 2 * INDEX_GRANULARITY * len(page)
    await assert_stats_match_the_rows(stores, page)


async def test_the_agent_stats_follow_the_retention_setting(stores: Stores) -> None:
    assert await retention_days_of_table(stores.analytics, AGENT_STATS_TABLE) == 90
    try:
        await apply_retention(stores.analytics, 30)
        assert await retention_days_of_table(stores.analytics, AGENT_STATS_TABLE) == 30
    finally:
        await apply_retention(stores.analytics, 90)
    assert await retention_days_of_table(stores.analytics, AGENT_STATS_TABLE) == 90

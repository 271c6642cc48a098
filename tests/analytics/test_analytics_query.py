"""The analytics query: every aggregation, grouping, bucketing, filter, scope and bad input,
each checked against values computed in Python from the same rows."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from core.enums import Role
from tests.agents.conftest import MakeCaller
from tests.analytics.conftest import (
    ANALYTICS,
    BASE,
    CATEGORIES,
    Metrics,
    make_row,
    percentile,
    query_vars,
)
from tests.support import only_error

ALL_SIX = [
    {"function": "COUNT"},
    {"function": "AVG", "field": "AWARENESS_LEVEL"},
    {"function": "SUM", "field": "PROCESSING_TIME_MS"},
    {"function": "MIN", "field": "ETHICAL_SCORE"},
    {"function": "MAX", "field": "VALENCE"},
    {"function": "PERCENTILE", "field": "PROCESSING_TIME_MS", "percentile": 0.95},
]


def expected(rows: list[dict[str, Any]]) -> list[float]:
    return [
        len(rows),
        statistics.fmean(r["awareness_level"] for r in rows),
        sum(r["processing_time_ms"] for r in rows),
        min(r["ethical_score"] for r in rows),
        max(r["valence"] for r in rows),
        percentile([r["processing_time_ms"] for r in rows], 0.95),
    ]


def values(row: dict[str, Any]) -> list[float]:
    return [v["value"] for v in row["values"]]


async def seed(metrics: Metrics, user_id: uuid.UUID, agents: list[uuid.UUID], per_agent: int):
    rows = [
        make_row(user_id, agent_id, index + 100 * n)
        for n, agent_id in enumerate(agents)
        for index in range(per_agent)
    ]
    for row in rows:
        row["timestamp"] = BASE + timedelta(minutes=rows.index(row) % 180)
    return await metrics.insert(rows)


async def test_every_aggregation_per_agent_matches_python(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agents = [uuid.uuid4(), uuid.uuid4()]
    rows = await seed(metrics, alice.user_id, agents, 40)
    data = await alice.ok(ANALYTICS, **query_vars(aggregations=ALL_SIX, groupBy=["AGENT"]))
    result = data["analytics"]["rows"]
    assert sorted(r["agentId"] for r in result) == sorted(str(a) for a in agents)
    for row in result:
        mine = [r for r in rows if str(r["agent_id"]) == row["agentId"]]
        assert row["count"] == len(mine)
        assert values(row) == pytest.approx(expected(mine), rel=1e-9)
        assert row["bucket"] is None
        assert row["userId"] is None


async def test_no_grouping_gives_one_row_and_an_empty_range_gives_nulls(
    caller: MakeCaller, metrics: Metrics
):
    alice = await caller("alice")
    rows = await seed(metrics, alice.user_id, [uuid.uuid4()], 25)
    data = await alice.ok(ANALYTICS, **query_vars(aggregations=ALL_SIX))
    (row,) = data["analytics"]["rows"]
    assert values(row) == pytest.approx(expected(rows), rel=1e-9)
    empty = query_vars(aggregations=ALL_SIX)
    empty["q"]["range"] = {
        "start": (BASE - timedelta(days=20)).isoformat(),
        "end": (BASE - timedelta(days=19)).isoformat(),
    }
    (none,) = (await alice.ok(ANALYTICS, **empty))["analytics"]["rows"]
    assert values(none) == [0, None, 0, None, None, None]


async def test_grouping_by_violation_category_counts_each_category_of_a_row(
    caller: MakeCaller, metrics: Metrics
):
    alice = await caller("alice")
    rows = await seed(metrics, alice.user_id, [uuid.uuid4()], 32)
    query = query_vars(
        aggregations=[{"function": "COUNT"}, {"function": "AVG", "field": "ETHICAL_SCORE"}],
        groupBy=["VIOLATION_CATEGORY"],
    )
    result = (await alice.ok(ANALYTICS, **query))["analytics"]["rows"]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        for category in row["violation_categories"]:
            by_category[category].append(row)
    assert {r["violationCategory"] for r in result} == set(CATEGORIES)
    for row in result:
        mine = by_category[row["violationCategory"]]
        assert values(row) == pytest.approx(
            [len(mine), statistics.fmean(r["ethical_score"] for r in mine)], rel=1e-9
        )


@pytest.mark.parametrize(("bucket", "step"), [("HOUR", 3600), ("DAY", 86400), ("MINUTE", 60)])
async def test_time_buckets_group_rows_by_the_start_of_their_interval(
    caller: MakeCaller, metrics: Metrics, bucket: str, step: int
):
    alice = await caller("alice")
    rows = await seed(metrics, alice.user_id, [uuid.uuid4()], 150)
    query = query_vars(
        aggregations=[{"function": "MAX", "field": "MEMORY_MB"}], bucket=bucket, limit=1000
    )
    result = (await alice.ok(ANALYTICS, **query))["analytics"]["rows"]
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[int(row["timestamp"].timestamp()) // step * step].append(row)
    got = {
        int(__import__("datetime").datetime.fromisoformat(r["bucket"]).timestamp()): r
        for r in result
    }
    assert sorted(got) == sorted(groups)
    for start, mine in groups.items():
        assert got[start]["count"] == len(mine)
        assert values(got[start]) == [max(r["memory_mb"] for r in mine)]


async def test_filters_select_the_same_rows_as_python(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agents = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
    rows = await seed(metrics, alice.user_id, agents, 30)
    query = query_vars(
        aggregations=[{"function": "COUNT"}, {"function": "SUM", "field": "INPUT_CHARS"}],
        filter={
            "agentIds": [str(agents[0]), str(agents[2])],
            "awareness": {"min": 0.2, "max": 0.8},
            "ethicalScore": {"min": 0.35},
            "processingTimeMs": {"max": 30.0},
        },
    )
    (row,) = (await alice.ok(ANALYTICS, **query))["analytics"]["rows"]
    mine = [
        r
        for r in rows
        if r["agent_id"] in (agents[0], agents[2])
        and 0.2 <= r["awareness_level"] <= 0.8
        and r["ethical_score"] >= 0.35
        and r["processing_time_ms"] <= 30.0
    ]
    assert 0 < len(mine) < len(rows)
    assert values(row) == [len(mine), sum(r["input_chars"] for r in mine)]


async def test_limit_and_offset_page_through_the_groups(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agents = [uuid.uuid4() for _ in range(5)]
    await seed(metrics, alice.user_id, agents, 2)
    every = query_vars(aggregations=[{"function": "COUNT"}], groupBy=["AGENT"])
    ordered = [r["agentId"] for r in (await alice.ok(ANALYTICS, **every))["analytics"]["rows"]]
    assert sorted(ordered) == sorted(str(a) for a in agents)  # in ClickHouse's UUID order
    page = query_vars(aggregations=[{"function": "COUNT"}], groupBy=["AGENT"], limit=2, offset=2)
    result = (await alice.ok(ANALYTICS, **page))["analytics"]["rows"]
    assert [r["agentId"] for r in result] == ordered[2:4]


async def test_a_user_sees_only_their_rows_and_an_admin_sees_everyones(
    caller: MakeCaller, metrics: Metrics
):
    alice, bob = await caller("alice"), await caller("bob")
    admin = await caller("root", Role.ADMIN)
    await seed(metrics, alice.user_id, [uuid.uuid4()], 5)
    await seed(metrics, bob.user_id, [uuid.uuid4()], 7)
    count = query_vars(aggregations=[{"function": "COUNT"}], groupBy=["USER"])
    (own,) = (await alice.ok(ANALYTICS, **count))["analytics"]["rows"]
    assert (own["userId"], own["count"]) == (str(alice.user_id), 5)
    peek = query_vars(aggregations=[{"function": "COUNT"}], filter={"userIds": [str(bob.user_id)]})
    assert only_error(await alice.send(ANALYTICS, **peek))["extensions"]["code"] == "FORBIDDEN"
    both = query_vars(
        aggregations=[{"function": "COUNT"}],
        groupBy=["USER"],
        filter={"userIds": [str(alice.user_id), str(bob.user_id)]},
    )
    result = (await admin.ok(ANALYTICS, **both))["analytics"]["rows"]
    assert {r["userId"]: r["count"] for r in result} == {
        str(alice.user_id): 5,
        str(bob.user_id): 7,
    }


async def test_anonymous_callers_are_refused(caller: MakeCaller):
    alice = await caller("alice")
    alice.headers = {}
    body = await alice.send(ANALYTICS, **query_vars(aggregations=[{"function": "COUNT"}]))
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


def _range(start: Any, end: Any) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


BAD_INPUT = [
    ({"range": _range(BASE, BASE - timedelta(hours=1))}, "query.range"),
    ({"range": _range(BASE, BASE + timedelta(days=367))}, "query.range"),
    ({"range": {"start": "2026-01-01T00:00:00", "end": BASE.isoformat()}}, "query.range.start"),
    (
        {"aggregations": [{"function": "PERCENTILE", "field": "CONFIDENCE", "percentile": 1.5}]},
        "query.aggregations[0].percentile",
    ),
    (
        {
            "aggregations": [
                {"function": "COUNT"},
                {"function": "PERCENTILE", "field": "CONFIDENCE"},
            ]
        },
        "query.aggregations[1].percentile",
    ),
    ({"aggregations": [{"function": "AVG"}]}, "query.aggregations[0].field"),
    ({"aggregations": []}, "query.aggregations"),
    ({"limit": 5000}, "query.limit"),
    ({"offset": -1}, "query.offset"),
    ({"filter": {"awareness": {"min": 0.9, "max": 0.1}}}, "query.filter.awareness"),
    ({"filter": {"agentIds": []}}, "query.filter.agentIds"),
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUT)
async def test_bad_input_is_bad_user_input_naming_the_field(
    caller: MakeCaller, change: dict[str, Any], field: str
):
    alice = await caller("alice")
    query = query_vars(aggregations=[{"function": "COUNT"}])
    query["q"].update(change)
    error = only_error(await alice.send(ANALYTICS, **query))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field

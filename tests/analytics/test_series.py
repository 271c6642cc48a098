"""timeSeries (trend, anomalies), compareAgents and comparePeriods on constructed series."""

from __future__ import annotations

import statistics
import uuid
from datetime import timedelta
from typing import Any

import pytest

from resolvers.analytics_math import least_squares, relative_change, robust_z_scores
from tests.agents.conftest import MakeCaller
from tests.analytics.conftest import BASE, Metrics, make_row, percentile
from tests.support import only_error

SERIES = """
query S($m: MetricField!, $i: TimeInterval!, $r: TimeRangeInput!, $a: UUID) {
  timeSeries(metric: $m, interval: $i, range: $r, agentId: $a) {
    points { bucket value count robustZ anomaly }
    trend { slopePerInterval intercept direction }
    anomalies { bucket value } anomalyThreshold
  }
}
"""
COMPARE = """
query C($ids: [UUID!]!, $m: MetricField!, $r: TimeRangeInput!) {
  compareAgents(agentIds: $ids, metric: $m, range: $r) { agentId count mean median p95 min max }
}
"""
PERIODS = """
query P($m: MetricField!, $f: TimeRangeInput!, $s: TimeRangeInput!) {
  comparePeriods(metric: $m, first: $f, second: $s) {
    first { count mean } second { count mean } absoluteChange relativeChange
  }
}
"""
DAY = {"start": BASE.isoformat(), "end": (BASE + timedelta(days=1)).isoformat()}


async def hourly(metrics: Metrics, user_id: uuid.UUID, agent_id: uuid.UUID, values: list[float]):
    """Two rows per hour from BASE whose processing times average to `values[hour]`."""
    rows = []
    for hour, value in enumerate(values):
        for offset, delta in ((5, -1.0), (35, 1.0)):
            at = BASE + timedelta(hours=hour, minutes=offset)
            rows.append(make_row(user_id, agent_id, hour, at=at, processing_time_ms=value + delta))
    return await metrics.insert(rows)


async def series(caller_: Any, agent_id: uuid.UUID) -> dict[str, Any]:
    data = await caller_.ok(SERIES, m="PROCESSING_TIME_MS", i="HOUR", r=DAY, a=str(agent_id))
    result: dict[str, Any] = data["timeSeries"]
    return result


@pytest.mark.parametrize(
    ("values", "direction"),
    [
        ([10 + 2 * h for h in range(12)], "UP"),
        ([50 - 3 * h for h in range(12)], "DOWN"),
        ([20.0, 20.1, 19.9, 20.0, 20.1, 19.9, 20.0, 20.1, 19.9, 20.0], "FLAT"),
    ],
)
async def test_the_trend_is_the_least_squares_slope_per_interval(
    caller: MakeCaller, metrics: Metrics, values: list[float], direction: str
):
    alice = await caller("alice")
    agent_id = uuid.uuid4()
    await hourly(metrics, alice.user_id, agent_id, values)
    result = await series(alice, agent_id)
    assert [p["value"] for p in result["points"]] == pytest.approx(values)
    assert all(p["count"] == 2 for p in result["points"])
    slope, intercept = statistics.linear_regression(range(len(values)), values)
    assert result["trend"]["slopePerInterval"] == pytest.approx(slope)
    assert result["trend"]["intercept"] == pytest.approx(intercept)
    assert result["trend"]["direction"] == direction


async def test_a_spike_is_the_only_anomaly(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agent_id = uuid.uuid4()
    values = [20.0, 21.0, 19.0, 20.5, 19.5, 20.0, 95.0, 20.2, 19.8, 21.0]
    await hourly(metrics, alice.user_id, agent_id, values)
    result = await series(alice, agent_id)
    assert [a["value"] for a in result["anomalies"]] == [95.0]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    spike = next(p for p in result["points"] if p["value"] == 95.0)
    assert spike["robustZ"] == pytest.approx(0.6745 * (95.0 - median) / mad)
    assert result["anomalyThreshold"] == 3.5


async def test_a_series_only_reads_the_callers_rows(caller: MakeCaller, metrics: Metrics):
    alice, bob = await caller("alice"), await caller("bob")
    agent_id = uuid.uuid4()
    await hourly(metrics, bob.user_id, agent_id, [1.0, 2.0, 3.0])
    result = await series(alice, agent_id)
    assert result["points"] == []
    assert result["trend"] is None


async def test_too_many_points_is_bad_input_naming_interval(caller: MakeCaller):
    alice = await caller("alice")
    year = {"start": BASE.isoformat(), "end": (BASE + timedelta(days=300)).isoformat()}
    error = only_error(await alice.send(SERIES, m="VALENCE", i="MINUTE", r=year))
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "interval",
    )


async def test_compare_agents_matches_python_per_agent(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agents = [uuid.uuid4(), uuid.uuid4()]
    rows = await metrics.insert([make_row(alice.user_id, agents[i % 2], i) for i in range(41)])
    missing = uuid.uuid4()
    data = await alice.ok(
        COMPARE, ids=[str(a) for a in [*agents, missing]], m="AWARENESS_LEVEL", r=DAY
    )
    result = data["compareAgents"]
    assert [r["agentId"] for r in result] == [str(a) for a in [*agents, missing]]
    for agent_id, got in zip(agents, result, strict=False):
        xs = [r["awareness_level"] for r in rows if r["agent_id"] == agent_id]
        assert got["count"] == len(xs)
        assert [got["mean"], got["median"], got["p95"], got["min"], got["max"]] == pytest.approx(
            [statistics.fmean(xs), percentile(xs, 0.5), percentile(xs, 0.95), min(xs), max(xs)]
        )
    assert result[2] == {
        "agentId": str(missing),
        "count": 0,
        "mean": None,
        "median": None,
        "p95": None,
        "min": None,
        "max": None,
    }


async def test_compare_periods_gives_the_relative_change(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agent_id = uuid.uuid4()
    await hourly(metrics, alice.user_id, agent_id, [10.0, 10.0, 15.0, 15.0])
    first = {"start": BASE.isoformat(), "end": (BASE + timedelta(hours=2)).isoformat()}
    second = {
        "start": (BASE + timedelta(hours=2)).isoformat(),
        "end": (BASE + timedelta(hours=4)).isoformat(),
    }
    data = (await alice.ok(PERIODS, m="PROCESSING_TIME_MS", f=first, s=second))["comparePeriods"]
    assert data["first"] == {"count": 4, "mean": 10.0}
    assert data["second"] == {"count": 4, "mean": 15.0}
    assert data["absoluteChange"] == 5.0
    assert data["relativeChange"] == pytest.approx(0.5)


def test_robust_z_is_undefined_when_most_values_are_equal():
    assert robust_z_scores([5.0, 5.0, 5.0, 9.0]) == [None] * 4


def test_a_line_needs_two_distinct_points_and_change_needs_a_nonzero_base():
    assert least_squares([1.0], [2.0]) is None
    assert least_squares([1.0, 1.0], [2.0, 3.0]) is None
    assert relative_change(0.0, 3.0) is None
    assert relative_change(-2.0, -1.0) == pytest.approx(0.5)

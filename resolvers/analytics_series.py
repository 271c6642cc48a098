"""Use cases of analytics over one metric: time series with trend and anomalies, comparisons."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from auth.permissions import Principal
from core.errors import BadUserInput
from db.analytics import as_utc
from db.analytics_queries import (
    BUCKET_SECONDS,
    AggregateFunction,
    Aggregation,
    Dimension,
    MetricField,
    MetricsQuery,
    TimeBucket,
)
from db.stores import Stores
from resolvers.analytics import (
    MAX_COMPARED_AGENTS,
    MAX_SERIES_POINTS,
    TimeRange,
    aggregate,
    build_filter,
)
from resolvers.analytics_math import (
    LineFit,
    is_anomaly,
    least_squares,
    relative_change,
    robust_z_scores,
)
from resolvers.context import Info


@dataclass(frozen=True)
class SeriesPoint:
    """One bucket's AVG and row count, with its robust z (None when MAD is 0)."""

    bucket: datetime
    value: float | None
    count: int
    robust_z: float | None

    @property
    def anomaly(self) -> bool:
        return is_anomaly(self.robust_z)


@dataclass(frozen=True)
class Series:
    """A metric's points per bucket and their least-squares trend (None under 2 points)."""

    metric: MetricField
    interval: TimeBucket
    points: tuple[SeriesPoint, ...]
    trend: LineFit | None


@dataclass(frozen=True)
class AgentSummary:
    """A metric's statistics over one agent's rows; None where the agent has no value."""

    agent_id: uuid.UUID
    count: int
    mean: float | None
    median: float | None
    p95: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class PeriodMean:
    start: datetime
    end: datetime
    count: int
    mean: float | None


@dataclass(frozen=True)
class PeriodChange:
    """A metric's mean in two periods, and its absolute and relative change."""

    metric: MetricField
    first: PeriodMean
    second: PeriodMean
    absolute_change: float | None
    relative_change: float | None


async def time_series(
    info: Info,
    metric: MetricField,
    interval: TimeBucket,
    time_range: TimeRange,
    agent_id: uuid.UUID | None,
) -> Series:
    """AVG of `metric` per bucket, its least-squares trend and its robust-z anomalies."""
    principal = await info.context.require_principal()
    where = build_filter(
        principal, time_range, None, "range", (agent_id,) if agent_id is not None else None
    )
    step = BUCKET_SECONDS[TimeBucket(interval)]
    if (where.end - where.start).total_seconds() / step > MAX_SERIES_POINTS:
        raise BadUserInput(
            f"at most {MAX_SERIES_POINTS} points: choose a longer interval or a shorter range",
            field="interval",
        )
    spec = MetricsQuery(
        where,
        (Aggregation(AggregateFunction.AVG, MetricField(metric)),),
        bucket=TimeBucket(interval),
        limit=MAX_SERIES_POINTS,
    )
    records = [r for r in await aggregate(info.context.stores, spec) if r["row_count"]]
    buckets = [as_utc(r["bucket"]) for r in records]
    values = [list(r.values())[1] for r in records]
    present = [(b, v) for b, v in zip(buckets, values, strict=True) if v is not None]
    scores = dict(zip(present, robust_z_scores([v for _, v in present]), strict=True))
    points = tuple(
        SeriesPoint(
            bucket=b,
            value=v,
            count=int(r["row_count"]),
            robust_z=scores.get((b, v)),  # None for a bucket without a value
        )
        for b, v, r in zip(buckets, values, records, strict=True)
    )
    origin = where.start.timestamp()
    trend = least_squares(
        [(b.timestamp() - origin) / step for b, _ in present], [v for _, v in present]
    )
    return Series(metric=metric, interval=interval, points=points, trend=trend)


COMPARISON = (
    Aggregation(AggregateFunction.AVG),
    Aggregation(AggregateFunction.PERCENTILE, percentile=0.5),
    Aggregation(AggregateFunction.PERCENTILE, percentile=0.95),
    Aggregation(AggregateFunction.MIN),
    Aggregation(AggregateFunction.MAX),
)


def _comparison(metric: MetricField) -> tuple[Aggregation, ...]:
    return tuple(Aggregation(a.function, metric, a.percentile) for a in COMPARISON)


async def compare_agents(
    info: Info, agent_ids: list[uuid.UUID], metric: MetricField, time_range: TimeRange
) -> list[AgentSummary]:
    """Per agent (in the order given): count, mean, exact median and p95, min, max."""
    principal = await info.context.require_principal()
    if not 1 <= len(agent_ids) <= MAX_COMPARED_AGENTS:
        raise BadUserInput(f"give 1 to {MAX_COMPARED_AGENTS} agents", field="agentIds")
    ids = tuple(dict.fromkeys(agent_ids))
    where = build_filter(principal, time_range, None, "range", ids)
    spec = MetricsQuery(
        where, _comparison(MetricField(metric)), (Dimension.AGENT,), limit=MAX_COMPARED_AGENTS
    )
    found = {r["agent_id"]: list(r.values()) for r in await aggregate(info.context.stores, spec)}
    results = []
    for agent_id in ids:
        row = found.get(agent_id)
        mean, median, p95, low, high, count = row[1:] if row else (None,) * 5 + (0,)
        results.append(
            AgentSummary(
                agent_id=agent_id,
                count=int(count or 0),
                mean=mean,
                median=median,
                p95=p95,
                min=low,
                max=high,
            )
        )
    return results


async def _period_mean(
    stores: Stores,
    principal: Principal,
    metric: MetricField,
    period: TimeRange,
    field: str,
    agent_id: uuid.UUID | None,
) -> PeriodMean:
    where = build_filter(principal, period, None, field, (agent_id,) if agent_id else None)
    spec = MetricsQuery(where, (Aggregation(AggregateFunction.AVG, metric),))
    (record,) = await aggregate(stores, spec)
    mean, count = list(record.values())
    return PeriodMean(start=where.start, end=where.end, count=int(count), mean=mean)


async def compare_periods(
    info: Info,
    metric: MetricField,
    first: TimeRange,
    second: TimeRange,
    agent_id: uuid.UUID | None,
) -> PeriodChange:
    """The mean of `metric` in two periods, and its absolute and relative change."""
    principal = await info.context.require_principal()
    stores, metric = info.context.stores, MetricField(metric)
    before = await _period_mean(stores, principal, metric, first, "first", agent_id)
    after = await _period_mean(stores, principal, metric, second, "second", agent_id)
    change = (
        after.mean - before.mean if after.mean is not None and before.mean is not None else None
    )
    return PeriodChange(
        metric=metric,
        first=before,
        second=after,
        absolute_change=change,
        relative_change=relative_change(before.mean, after.mean),
    )

"""Use cases of analytics: aggregate queries, time series, comparisons, metric deletion.

Scope: a caller sees only rows whose user_id is theirs; analytics:admin sees every row.
Input is validated here (BAD_USER_INPUT naming the field); SQL comes from
db/analytics_queries, with every value as a query parameter.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from auth.permissions import Permission, Principal
from core.errors import BadUserInput, Forbidden
from db.analytics import as_utc
from db.analytics_queries import (
    BUCKET_SECONDS,
    AggregateFunction,
    Aggregation,
    Dimension,
    MetricField,
    MetricsFilter,
    MetricsQuery,
    TimeBucket,
    build_aggregate,
    statistic,
)
from db.stores import Stores
from resolvers.analytics_math import (
    ANOMALY_THRESHOLD,
    is_anomaly,
    least_squares,
    relative_change,
    robust_z_scores,
)
from resolvers.context import Context, Info
from schema.types.analytics import (
    AgentComparison,
    AggregateValue,
    AggregationInput,
    AnalyticsFilter,
    AnalyticsQuery,
    AnalyticsResult,
    AnalyticsRow,
    FloatRangeInput,
    PeriodComparison,
    PeriodSummary,
    TimeRangeInput,
    TimeSeries,
    TimeSeriesPoint,
    Trend,
    TrendDirection,
)

log = logging.getLogger(__name__)

MAX_RANGE_DAYS = 366
MAX_LIMIT = 1000
MAX_OFFSET = 100_000
MAX_AGGREGATIONS = 20
MAX_FILTER_IDS = 100
MAX_SERIES_POINTS = 10_000
MAX_COMPARED_AGENTS = 50

# --- validation ----------------------------------------------------------------------------


def check_range(value: TimeRangeInput, field: str) -> tuple[datetime, datetime]:
    """[start, end) with time zones, start before end, at most MAX_RANGE_DAYS long."""
    for name, moment in (("start", value.start), ("end", value.end)):
        if moment.tzinfo is None:
            raise BadUserInput("a time must carry a time zone, e.g. 'Z'", field=f"{field}.{name}")
    if value.start >= value.end:
        raise BadUserInput("start must be before end", field=field)
    if value.end - value.start > timedelta(days=MAX_RANGE_DAYS):
        raise BadUserInput(f"a range spans at most {MAX_RANGE_DAYS} days", field=field)
    return value.start, value.end


def _bounds(value: FloatRangeInput | None, field: str) -> tuple[float | None, float | None] | None:
    if value is None:
        return None
    for name, bound in (("min", value.min), ("max", value.max)):
        if bound is not None and not math.isfinite(bound):
            raise BadUserInput("bounds must be finite numbers", field=f"{field}.{name}")
    if value.min is not None and value.max is not None and value.min > value.max:
        raise BadUserInput("min must not exceed max", field=field)
    return value.min, value.max


def _ids(values: list[uuid.UUID] | None, field: str) -> tuple[uuid.UUID, ...] | None:
    if values is None:
        return None
    if not 1 <= len(values) <= MAX_FILTER_IDS:
        raise BadUserInput(f"give 1 to {MAX_FILTER_IDS} ids", field=field)
    return tuple(dict.fromkeys(values))


def scope_user_ids(
    principal: Principal, requested: tuple[uuid.UUID, ...] | None, field: str
) -> tuple[uuid.UUID, ...] | None:
    """The user ids a query may read: the caller's only, unless they hold analytics:admin."""
    if principal.has(Permission.ANALYTICS_ADMIN):
        return requested
    own = uuid.UUID(principal.user_id)
    if requested is not None and set(requested) != {own}:
        raise Forbidden("another user's metrics need the analytics:admin permission")
    return (own,)


def build_filter(
    principal: Principal,
    time_range: TimeRangeInput,
    where: AnalyticsFilter | None,
    field: str = "query",
    agent_ids: tuple[uuid.UUID, ...] | None = None,
) -> MetricsFilter:
    start, end = check_range(time_range, f"{field}.range")
    where = where or AnalyticsFilter()
    ranges = {
        metric: bounds
        for metric, bounds in (
            (MetricField.AWARENESS_LEVEL, _bounds(where.awareness, f"{field}.filter.awareness")),
            (
                MetricField.ETHICAL_SCORE,
                _bounds(where.ethical_score, f"{field}.filter.ethicalScore"),
            ),
            (
                MetricField.PROCESSING_TIME_MS,
                _bounds(where.processing_time_ms, f"{field}.filter.processingTimeMs"),
            ),
        )
        if bounds is not None
    }
    users = _ids(where.user_ids, f"{field}.filter.userIds")
    return MetricsFilter(
        start=start,
        end=end,
        agent_ids=agent_ids or _ids(where.agent_ids, f"{field}.filter.agentIds"),
        user_ids=scope_user_ids(principal, users, f"{field}.filter.userIds"),
        ranges=ranges,
    )


def check_aggregation(value: AggregationInput, field: str) -> Aggregation:
    function = AggregateFunction(value.function)
    metric = MetricField(value.field) if value.field is not None else None
    counts_rows = function is AggregateFunction.COUNT
    if metric is None and not counts_rows:
        raise BadUserInput(f"{function.name} needs a field", field=f"{field}.field")
    if function is AggregateFunction.PERCENTILE:
        p = value.percentile
        if p is None or not (0 < p < 1):
            raise BadUserInput(
                "percentile must be strictly between 0 and 1", field=f"{field}.percentile"
            )
    elif value.percentile is not None:
        raise BadUserInput("percentile is only for PERCENTILE", field=f"{field}.percentile")
    return Aggregation(function, metric, value.percentile)


def check_page(limit: int, offset: int, field: str = "query") -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadUserInput(f"limit must be between 1 and {MAX_LIMIT}", field=f"{field}.limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadUserInput(f"offset must be between 0 and {MAX_OFFSET}", field=f"{field}.offset")


def build_query(principal: Principal, query: AnalyticsQuery, *, raw_allowed: bool) -> MetricsQuery:
    """The validated MetricsQuery of an AnalyticsQuery input."""
    where = build_filter(principal, query.range, query.filter)
    if not raw_allowed and not query.aggregations:
        raise BadUserInput("give at least one aggregation", field="query.aggregations")
    if len(query.aggregations) > MAX_AGGREGATIONS:
        raise BadUserInput(f"at most {MAX_AGGREGATIONS} aggregations", field="query.aggregations")
    aggregations = tuple(
        check_aggregation(value, f"query.aggregations[{index}]")
        for index, value in enumerate(query.aggregations)
    )
    group_by = tuple(dict.fromkeys(Dimension(value) for value in query.group_by))
    check_page(query.limit, query.offset)
    bucket = TimeBucket(query.bucket) if query.bucket is not None else None
    return MetricsQuery(where, aggregations, group_by, bucket, query.limit, query.offset)


# --- queries -------------------------------------------------------------------------------


async def aggregate(stores: Stores, query: MetricsQuery) -> list[dict[str, Any]]:
    """The groups of `query`, as {column: value}; values of empty groups are None."""
    built = build_aggregate(query)
    rows = await stores.analytics.query_rows(built.sql, built.parameters)
    results = []
    for row in rows:
        record = dict(zip(built.columns, row, strict=True))
        empty = record["row_count"] == 0
        for index, aggregation in enumerate(query.aggregations):
            name = built.columns[len(built.columns) - 1 - len(query.aggregations) + index]
            keeps_zero = aggregation.function in (AggregateFunction.COUNT, AggregateFunction.SUM)
            record[name] = None if empty and not keeps_zero else statistic(record[name])
        results.append(record)
    return results


async def run_analytics(info: Info, query: AnalyticsQuery) -> AnalyticsResult:
    principal = await info.context.require_principal()
    spec = build_query(principal, query, raw_allowed=False)
    records = await aggregate(info.context.stores, spec)
    first_value = len(spec.group_by) + (spec.bucket is not None)
    rows = []
    for record in records:
        values = list(record.values())[first_value : first_value + len(spec.aggregations)]
        bucket = record.get("bucket")
        rows.append(
            AnalyticsRow(
                bucket=as_utc(bucket) if bucket is not None else None,
                agent_id=record.get(Dimension.AGENT.value),
                user_id=record.get(Dimension.USER.value),
                violation_category=record.get(Dimension.VIOLATION_CATEGORY.value),
                count=int(record["row_count"]),
                values=[
                    AggregateValue(
                        function=a.function, field=a.field, percentile=a.percentile, value=value
                    )
                    for a, value in zip(spec.aggregations, values, strict=True)
                ],
            )
        )
    return AnalyticsResult(rows=rows, limit=spec.limit, offset=spec.offset)


async def time_series(
    info: Info,
    metric: MetricField,
    interval: TimeBucket,
    time_range: TimeRangeInput,
    agent_id: uuid.UUID | None,
) -> TimeSeries:
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
    points = [
        TimeSeriesPoint(
            bucket=b,
            value=v,
            count=int(r["row_count"]),
            robust_z=scores.get((b, v)) if v is not None else None,
            anomaly=is_anomaly(scores.get((b, v))) if v is not None else False,
        )
        for b, v, r in zip(buckets, values, records, strict=True)
    ]
    origin = where.start.timestamp()
    fit = least_squares(
        [(b.timestamp() - origin) / step for b, _ in present], [v for _, v in present]
    )
    trend = (
        Trend(
            slope_per_interval=fit.slope,
            intercept=fit.intercept,
            direction=TrendDirection(fit.direction),
        )
        if fit is not None
        else None
    )
    return TimeSeries(
        metric=metric,
        interval=interval,
        points=points,
        trend=trend,
        anomalies=[p for p in points if p.anomaly],
        anomaly_threshold=ANOMALY_THRESHOLD,
    )


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
    info: Info, agent_ids: list[uuid.UUID], metric: MetricField, time_range: TimeRangeInput
) -> list[AgentComparison]:
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
            AgentComparison(
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
    period: TimeRangeInput,
    field: str,
    agent_id: uuid.UUID | None,
) -> PeriodSummary:
    where = build_filter(principal, period, None, field, (agent_id,) if agent_id else None)
    spec = MetricsQuery(where, (Aggregation(AggregateFunction.AVG, metric),))
    (record,) = await aggregate(stores, spec)
    mean, count = list(record.values())
    return PeriodSummary(start=where.start, end=where.end, count=int(count), mean=mean)


async def compare_periods(
    info: Info,
    metric: MetricField,
    first: TimeRangeInput,
    second: TimeRangeInput,
    agent_id: uuid.UUID | None,
) -> PeriodComparison:
    """The mean of `metric` in two periods, and its absolute and relative change."""
    principal = await info.context.require_principal()
    stores, metric = info.context.stores, MetricField(metric)
    before = await _period_mean(stores, principal, metric, first, "first", agent_id)
    after = await _period_mean(stores, principal, metric, second, "second", agent_id)
    change = (
        after.mean - before.mean if after.mean is not None and before.mean is not None else None
    )
    return PeriodComparison(
        metric=metric,
        first=before,
        second=after,
        absolute_change=change,
        relative_change=relative_change(before.mean, after.mean),
    )


# --- deletion ------------------------------------------------------------------------------


async def delete_agent_metrics(context: Context, agent_id: uuid.UUID) -> None:
    """Delete a deleted agent's metrics rows, after the agent's deletion has committed.

    The writer's queue is flushed first, so rows emitted just before the deletion do not
    arrive after it. A failure is logged, not raised: the agent is already gone, and its
    rows end at the table TTL at the latest. Rows then sitting in the spool (ClickHouse
    was unreachable) are replayed later and outlive the DELETE until their TTL.
    """
    stores = context.stores
    try:
        if stores.metrics_writer is not None:
            await stores.metrics_writer.flush()
        await stores.analytics.delete_metrics(agent_id=agent_id)
    except Exception:
        log.exception("could not delete the metrics of deleted agent %s", agent_id)


async def delete_user_metrics(stores: Stores, user_id: uuid.UUID) -> None:
    """Every metrics row of a user: for account deletion (GDPR erasure)."""
    await stores.analytics.delete_metrics(user_id=user_id)

"""Use cases of analytics: validation of a query, aggregate queries, metric deletion.

Scope: a caller sees only rows whose user_id is theirs; analytics:admin sees every row.
Input is validated here (BAD_USER_INPUT naming the field); SQL comes from
db/analytics_queries, with every value as a query parameter.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auth.permissions import Permission, Principal
from core.errors import BadUserInput, Forbidden
from db.analytics import as_utc
from db.analytics_queries import (
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
from resolvers.context import Context, Info

log = logging.getLogger(__name__)

MAX_RANGE_DAYS = 366
MAX_LIMIT = 1000
MAX_OFFSET = 100_000
MAX_AGGREGATIONS = 20
MAX_FILTER_IDS = 100
MAX_SERIES_POINTS = 10_000
MAX_COMPARED_AGENTS = 50

# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    """[start, end), as given: checked by check_range."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class FloatRange:
    """Inclusive bounds; None is open."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class FilterRequest:
    """Which rows a query reads besides its time range."""

    agent_ids: tuple[uuid.UUID, ...] | None = None
    user_ids: tuple[uuid.UUID, ...] | None = None
    awareness: FloatRange | None = None
    ethical_score: FloatRange | None = None
    processing_time_ms: FloatRange | None = None


@dataclass(frozen=True)
class AggregationRequest:
    function: AggregateFunction
    field: MetricField | None = None
    percentile: float | None = None


@dataclass(frozen=True)
class AnalyticsRequest:
    """An aggregate query as asked (the AnalyticsQuery input): checked by build_query."""

    range: TimeRange
    filter: FilterRequest | None = None
    aggregations: tuple[AggregationRequest, ...] = ()
    group_by: tuple[Dimension, ...] = ()
    bucket: TimeBucket | None = None
    limit: int = 100
    offset: int = 0


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupValue:
    """One aggregation's value in a group; None when the group has no value."""

    function: AggregateFunction
    field: MetricField | None
    percentile: float | None
    value: float | None


@dataclass(frozen=True)
class Group:
    """One group of an aggregate query: its keys (None when not grouped by) and values."""

    bucket: datetime | None
    agent_id: uuid.UUID | None
    user_id: uuid.UUID | None
    violation_category: str | None
    count: int
    values: tuple[GroupValue, ...]
    model: str | None = None
    provider: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class GroupPage:
    rows: tuple[Group, ...]
    limit: int
    offset: int


# --- validation ----------------------------------------------------------------------------


def check_range(value: TimeRange, field: str) -> tuple[datetime, datetime]:
    """[start, end) with time zones, start before end, at most MAX_RANGE_DAYS long."""
    for name, moment in (("start", value.start), ("end", value.end)):
        if moment.tzinfo is None:
            raise BadUserInput("a time must carry a time zone, e.g. 'Z'", field=f"{field}.{name}")
    if value.start >= value.end:
        raise BadUserInput("start must be before end", field=field)
    if value.end - value.start > timedelta(days=MAX_RANGE_DAYS):
        raise BadUserInput(f"a range spans at most {MAX_RANGE_DAYS} days", field=field)
    return value.start, value.end


def _bounds(value: FloatRange | None, field: str) -> tuple[float | None, float | None] | None:
    if value is None:
        return None
    for name, bound in (("min", value.min), ("max", value.max)):
        if bound is not None and not math.isfinite(bound):
            raise BadUserInput("bounds must be finite numbers", field=f"{field}.{name}")
    if value.min is not None and value.max is not None and value.min > value.max:
        raise BadUserInput("min must not exceed max", field=field)
    return value.min, value.max


def _ids(values: tuple[uuid.UUID, ...] | None, field: str) -> tuple[uuid.UUID, ...] | None:
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
    time_range: TimeRange,
    where: FilterRequest | None,
    field: str = "query",
    agent_ids: tuple[uuid.UUID, ...] | None = None,
) -> MetricsFilter:
    start, end = check_range(time_range, f"{field}.range")
    where = where or FilterRequest()
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


def check_aggregation(value: AggregationRequest, field: str) -> Aggregation:
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


def build_query(
    principal: Principal, query: AnalyticsRequest, *, raw_allowed: bool
) -> MetricsQuery:
    """The validated MetricsQuery of an AnalyticsRequest."""
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


async def run_analytics(info: Info, query: AnalyticsRequest) -> GroupPage:
    """The groups of an aggregate query, one page."""
    principal = await info.context.require_principal()
    spec = build_query(principal, query, raw_allowed=False)
    records = await aggregate(info.context.stores, spec)
    first_value = len(spec.group_by) + (spec.bucket is not None)
    rows = []
    for record in records:
        values = list(record.values())[first_value : first_value + len(spec.aggregations)]
        bucket = record.get("bucket")
        rows.append(
            Group(
                bucket=as_utc(bucket) if bucket is not None else None,
                agent_id=record.get(Dimension.AGENT.value),
                user_id=record.get(Dimension.USER.value),
                violation_category=record.get(Dimension.VIOLATION_CATEGORY.value),
                model=record.get(Dimension.MODEL.value),
                provider=record.get(Dimension.PROVIDER.value),
                source=record.get(Dimension.SOURCE.value),
                count=int(record["row_count"]),
                values=tuple(
                    GroupValue(
                        function=a.function, field=a.field, percentile=a.percentile, value=value
                    )
                    for a, value in zip(spec.aggregations, values, strict=True)
                ),
            )
        )
    return GroupPage(rows=tuple(rows), limit=spec.limit, offset=spec.offset)


# --- deletion ------------------------------------------------------------------------------


async def delete_agent_metrics(context: Context, agent_id: uuid.UUID) -> None:
    """Delete a deleted agent's metrics rows, after the agent's deletion has committed.

    The outbox is drained first, so rows staged by a drain still in flight do not arrive
    after it (the agent's rows still in the outbox went with the agent: foreign keys). A
    failure is logged, not raised: the agent is already gone, and its rows end at the table
    TTL at the latest.
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

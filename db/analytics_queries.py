"""SQL of the analytics queries over consciousness_metrics, built from closed enums.

Identifiers (columns, functions, buckets) come only from the enums below; every value a
client sends (times, ids, bounds, the percentile level, limit, offset) is a server-side
query parameter `{name:Type}`. Nothing here formats user input into SQL.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from db.analytics_migrations import AGENT_STATS_TABLE, METRICS_TABLE


class MetricField(StrEnum):
    """A numeric column, by name; BLOCKED and ERROR are 0/1, so AVG is a rate."""

    PROCESSING_TIME_MS = "processing_time_ms"
    AWARENESS_LEVEL = "awareness_level"
    ETHICAL_SCORE = "ethical_score"
    CONFIDENCE = "confidence"
    COGNITIVE_LOAD = "cognitive_load"
    VALENCE = "valence"
    AROUSAL = "arousal"
    INPUT_CHARS = "input_chars"
    INPUT_TOKENS = "input_tokens"  # of an observed model call (OTLP); 0 for `process`
    OUTPUT_TOKENS = "output_tokens"
    CPU_PERCENT = "cpu_percent"
    MEMORY_MB = "memory_mb"
    GPU_USAGE = "gpu_usage"
    BLOCKED = "blocked"
    ERROR = "error"


class AggregateFunction(StrEnum):
    COUNT = "count"
    AVG = "avg"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    PERCENTILE = "quantileExact"  # exact: the value at rank floor(p·n) of the sorted values


class Dimension(StrEnum):
    AGENT = "agent_id"
    USER = "user_id"
    VIOLATION_CATEGORY = "violation_category"
    MODEL = "model"
    PROVIDER = "provider"
    SOURCE = "source"


class TimeBucket(StrEnum):
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


BUCKET_SECONDS = {TimeBucket.MINUTE: 60, TimeBucket.HOUR: 3600, TimeBucket.DAY: 86400}
_NUMERIC_FIELDS = {MetricField.BLOCKED, MetricField.ERROR}  # Bool: cast to a number first


def statistic(value: Any) -> float | None:
    """A ClickHouse aggregate as clients see it: nan or inf (avg of nothing) is None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Aggregation:
    function: AggregateFunction
    field: MetricField | None = None  # None only for COUNT
    percentile: float | None = None  # in (0, 1), only for PERCENTILE


@dataclass(frozen=True)
class MetricsFilter:
    start: datetime
    end: datetime
    agent_ids: tuple[uuid.UUID, ...] | None = None
    user_ids: tuple[uuid.UUID, ...] | None = None
    # inclusive bounds; a None bound is open
    ranges: dict[MetricField, tuple[float | None, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsQuery:
    filter: MetricsFilter
    aggregations: tuple[Aggregation, ...]
    group_by: tuple[Dimension, ...] = ()
    bucket: TimeBucket | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class BuiltQuery:
    sql: str
    parameters: dict[str, Any]
    columns: tuple[str, ...]  # the names of the result columns, in order


def column_sql(metric: MetricField) -> str:
    """The SQL of a metric's column as a number (BLOCKED and ERROR as 0/1)."""
    name = metric.value
    return f"toUInt8({name})" if metric in _NUMERIC_FIELDS else name


def where_clause(where: MetricsFilter, parameters: dict[str, Any]) -> str:
    """The WHERE condition of a filter; its values are added to `parameters`."""
    parameters["start_ms"] = int(where.start.timestamp() * 1000)
    parameters["end_ms"] = int(where.end.timestamp() * 1000)
    conditions = [
        "timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
        "timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')",
    ]
    if where.agent_ids is not None:
        parameters["agent_ids"] = list(where.agent_ids)
        conditions.append("agent_id IN {agent_ids:Array(UUID)}")
    if where.user_ids is not None:
        parameters["user_ids"] = list(where.user_ids)
        conditions.append("user_id IN {user_ids:Array(UUID)}")
    for metric, (low, high) in where.ranges.items():
        if low is not None:
            parameters[f"{metric.value}_min"] = low
            conditions.append(f"{column_sql(metric)} >= {{{metric.value}_min:Float64}}")
        if high is not None:
            parameters[f"{metric.value}_max"] = high
            conditions.append(f"{column_sql(metric)} <= {{{metric.value}_max:Float64}}")
    return " AND ".join(conditions)


def _aggregate_sql(index: int, aggregation: Aggregation, parameters: dict[str, Any]) -> str:
    if aggregation.function is AggregateFunction.COUNT:
        return "toFloat64(count())"
    assert aggregation.field is not None
    column = column_sql(aggregation.field)
    if aggregation.function is AggregateFunction.PERCENTILE:
        parameters[f"p{index}"] = aggregation.percentile
        return f"quantileExact({{p{index}:Float64}})({column})"
    return f"{aggregation.function.value}({column})"


def aggregate_alias(index: int, aggregation: Aggregation) -> str:
    """A column name made of enum values and the position: `avg_ethical_score_1`."""
    name = (
        "percentile"
        if aggregation.function is AggregateFunction.PERCENTILE
        else (aggregation.function.value)
    )
    column = aggregation.field.value if aggregation.field is not None else "rows"
    return f"{name}_{column}_{index}"


def build_aggregate(query: MetricsQuery) -> BuiltQuery:
    """SELECT dimensions, aggregates … GROUP BY dimensions, ordered by them, paged.

    The result's last column `row_count` counts the rows of each group: with no rows, the
    aggregates other than COUNT and SUM have no value.
    """
    parameters: dict[str, Any] = {"limit": query.limit, "offset": query.offset}
    keys: list[tuple[str, str]] = []
    if query.bucket is not None:
        keys.append(("bucket", f"toStartOfInterval(timestamp, INTERVAL 1 {query.bucket.value})"))
    for dimension in query.group_by:
        expression = (
            "arrayJoin(violation_categories)"
            if dimension is Dimension.VIOLATION_CATEGORY
            else dimension.value
        )
        keys.append((dimension.value, expression))
    selected = [f"{expression} AS {name}" for name, expression in keys]
    aliases = [aggregate_alias(index, a) for index, a in enumerate(query.aggregations)]
    selected += [
        f"{_aggregate_sql(index, aggregation, parameters)} AS {alias}"
        for index, (aggregation, alias) in enumerate(zip(query.aggregations, aliases, strict=True))
    ]
    selected.append("count() AS row_count")
    where = where_clause(query.filter, parameters)
    # Identifiers from the enums only; every value is in `parameters`.
    sql = f"SELECT {', '.join(selected)} FROM {METRICS_TABLE} WHERE {where}"  # noqa: S608
    if keys:
        names = ", ".join(name for name, _ in keys)
        sql += f" GROUP BY {names} ORDER BY {names}"
    sql += " LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    columns = (*(name for name, _ in keys), *aliases, "row_count")
    return BuiltQuery(sql, parameters, columns)


@dataclass(frozen=True)
class AgentStats:
    """What an agent's metrics rows add up to; the means and p95 are None without rows."""

    request_count: int
    mean_awareness: float | None
    mean_ethical_score: float | None
    p95_processing_time_ms: float | None


NO_REQUESTS = AgentStats(0, None, None, None)


def build_agent_stats(agent_ids: list[uuid.UUID]) -> BuiltQuery:
    """Count, mean awareness, mean ethical score and p95 time of each agent, in one query.

    They come from agent_daily_stats, which the table's view keeps current: the read looks
    up the given agents' rows by key, so it costs as much with a million rows of other
    agents in the table as with none. The values are those of the agents' metrics rows;
    the p95 is PERCENTILE's (quantileExact): the value at 0-based position floor(0.95·n) of
    the n sorted times, so it always is an observed time. Agents without rows are absent.
    """
    sql = (
        "SELECT agent_id, countMerge(requests), avgMerge(awareness_level), "  # noqa: S608
        "avgMerge(ethical_score), quantileExactMerge(0.95)(processing_time_ms) "
        f"FROM {AGENT_STATS_TABLE} WHERE agent_id IN {{agent_ids:Array(UUID)}} GROUP BY agent_id"
    )
    columns = ("agent_id", "request_count", "mean_awareness", "mean_ethical_score", "p95")
    return BuiltQuery(sql, {"agent_ids": agent_ids}, columns)


def build_rows(where: MetricsFilter, columns: tuple[str, ...]) -> BuiltQuery:
    """Every row of the filter, oldest first, with the given (trusted) columns."""
    parameters: dict[str, Any] = {}
    sql = (
        f"SELECT {', '.join(columns)} FROM {METRICS_TABLE} "  # noqa: S608  (trusted columns)
        f"WHERE {where_clause(where, parameters)} ORDER BY timestamp, request_id"
    )
    return BuiltQuery(sql, parameters, columns)

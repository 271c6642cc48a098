"""Analytics over the consciousness_metrics table: query inputs, results, series, exports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum

import strawberry

from db.analytics_queries import AggregateFunction as AggregateFunctionValue
from db.analytics_queries import Dimension, TimeBucket
from db.analytics_queries import MetricField as MetricFieldValue

MetricField = strawberry.enum(
    MetricFieldValue,
    name="MetricField",
    description="A measured column of the metrics: engine scores in their documented ranges, "
    "processing time in ms, input size in characters, process CPU (% of one core) and RSS "
    "(MB), GPU (null: not read on this server); BLOCKED and ERROR are 0/1, so AVG is a rate.",
)
AggregateFunction = strawberry.enum(
    AggregateFunctionValue,
    name="AggregateFunction",
    description="COUNT ignores the field. PERCENTILE is exact (ClickHouse quantileExact): "
    "the value at rank floor(p·n), 0-based, of the n values sorted ascending.",
)
GroupDimension = strawberry.enum(
    Dimension,
    name="GroupDimension",
    description="AGENT, USER, or VIOLATION_CATEGORY (each category of a row counts the row "
    "once; rows without violations belong to no category group).",
)
Interval = strawberry.enum(TimeBucket, name="TimeInterval", description="A time bucket.")


@strawberry.enum(description="ClickHouse output formats: CSVWithNames, JSONEachRow, Parquet.")
class ExportFormat(Enum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


@strawberry.enum(
    description="The sign of a least-squares slope; FLAT when the fitted change "
    "over the series is under 1% of the mean |value|."
)
class TrendDirection(Enum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


@strawberry.input(description="[start, end): start inclusive, end exclusive, at most 366 days.")
class TimeRangeInput:
    start: datetime
    end: datetime


@strawberry.input(description="Inclusive bounds; an omitted bound is open.")
class FloatRangeInput:
    min: float | None = None
    max: float | None = None


@strawberry.input
class AnalyticsFilter:
    agent_ids: list[uuid.UUID] | None = strawberry.field(default=None, description="≤ 100.")
    user_ids: list[uuid.UUID] | None = strawberry.field(
        default=None, description="≤ 100; another user's id needs analytics:admin."
    )
    awareness: FloatRangeInput | None = None
    ethical_score: FloatRangeInput | None = None
    processing_time_ms: FloatRangeInput | None = None


@strawberry.input
class AggregationInput:
    function: AggregateFunction  # type: ignore[valid-type]
    field: MetricField | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Required except for COUNT."
    )
    percentile: float | None = strawberry.field(
        default=None, description="For PERCENTILE: the level p, 0 < p < 1."
    )


@strawberry.input(
    description="Rows in range and filter, aggregated per group; yours only "
    "unless you hold analytics:admin."
)
class AnalyticsQuery:
    range: TimeRangeInput
    filter: AnalyticsFilter | None = None
    aggregations: list[AggregationInput] = strawberry.field(
        default_factory=list,
        description="1 to 20 for analytics; none in an export means the raw rows.",
    )
    group_by: list[GroupDimension] = strawberry.field(  # type: ignore[valid-type]
        default_factory=list
    )
    bucket: Interval | None = None  # type: ignore[valid-type]
    limit: int = strawberry.field(default=100, description="Groups per page, 1 to 1000.")
    offset: int = strawberry.field(default=0, description="0 to 100000.")


@strawberry.type
class AggregateValue:
    function: AggregateFunction  # type: ignore[valid-type]
    field: MetricField | None  # type: ignore[valid-type]
    percentile: float | None
    value: float | None = strawberry.field(description="Null when the group has no value.")


@strawberry.type(description="One group: its keys (null when not grouped by them) and values.")
class AnalyticsRow:
    bucket: datetime | None
    agent_id: uuid.UUID | None
    user_id: uuid.UUID | None
    violation_category: str | None
    count: int = strawberry.field(description="Rows in the group.")
    values: list[AggregateValue] = strawberry.field(description="In the order asked.")


@strawberry.type
class AnalyticsResult:
    rows: list[AnalyticsRow]
    limit: int
    offset: int


@strawberry.type
class TimeSeriesPoint:
    bucket: datetime
    value: float | None
    count: int
    robust_z: float | None = strawberry.field(
        description="0.6745·(value - median)/MAD over the series; null when MAD is 0."
    )
    anomaly: bool = strawberry.field(description="|robustZ| > 3.5 (Iglewicz and Hoaglin).")


@strawberry.type(description="Least-squares line through the points, x in intervals from start.")
class Trend:
    slope_per_interval: float
    intercept: float
    direction: TrendDirection


@strawberry.type
class TimeSeries:
    metric: MetricField  # type: ignore[valid-type]
    interval: Interval  # type: ignore[valid-type]
    points: list[TimeSeriesPoint] = strawberry.field(
        description="AVG per bucket, oldest first; buckets without rows are absent."
    )
    trend: Trend | None = strawberry.field(description="Null with fewer than 2 points.")
    anomalies: list[TimeSeriesPoint]
    anomaly_threshold: float


@strawberry.type
class AgentComparison:
    agent_id: uuid.UUID
    count: int
    mean: float | None
    median: float | None
    p95: float | None
    min: float | None
    max: float | None


@strawberry.type
class PeriodSummary:
    start: datetime
    end: datetime
    count: int
    mean: float | None


@strawberry.type
class PeriodComparison:
    metric: MetricField  # type: ignore[valid-type]
    first: PeriodSummary
    second: PeriodSummary
    absolute_change: float | None = strawberry.field(description="second.mean - first.mean.")
    relative_change: float | None = strawberry.field(
        description="(second.mean - first.mean) / |first.mean|; null when first.mean is 0 "
        "or missing."
    )


@strawberry.type(description="A download at `url` (GET with your bearer token) until expiresAt.")
class ExportPayload:
    id: str
    url: str
    format: ExportFormat
    expires_at: datetime

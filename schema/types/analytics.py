"""Analytics over the consciousness_metrics table: query inputs, results, series, exports."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from db.analytics_queries import AggregateFunction as AggregateFunctionValue
from db.analytics_queries import Dimension, TimeBucket
from db.analytics_queries import MetricField as MetricFieldValue
from resolvers.analytics import (
    AggregationRequest,
    AnalyticsRequest,
    FilterRequest,
    FloatRange,
    Group,
    GroupPage,
    GroupValue,
    TimeRange,
)
from resolvers.analytics_exports import ExportFormat as ExportFormatValue
from resolvers.analytics_exports import ExportTicket
from resolvers.analytics_math import ANOMALY_THRESHOLD, LineFit
from resolvers.analytics_math import TrendDirection as TrendDirectionValue
from resolvers.analytics_series import (
    AgentSummary,
    PeriodChange,
    PeriodMean,
    Series,
    SeriesPoint,
)

MetricField = strawberry.enum(
    MetricFieldValue,
    name="MetricField",
    description="A measured column of the metrics: engine scores in their documented ranges, "
    "processing time in ms, input size in characters, process CPU (% of one core) and RSS "
    "(MB), GPU (null: not read on this server), the observed model call's tokens (OTLP rows; "
    "0 for process); BLOCKED and ERROR are 0/1, so AVG is a rate.",
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
    description="AGENT, USER, VIOLATION_CATEGORY (each category of a row counts the row "
    "once; rows without violations belong to no category group), or MODEL, PROVIDER and "
    "SOURCE (graphql or otlp; model and provider are empty for process).",
)
Interval = strawberry.enum(TimeBucket, name="TimeInterval", description="A time bucket.")


ExportFormat = strawberry.enum(
    ExportFormatValue,
    name="ExportFormat",
    description="ClickHouse output formats: CSVWithNames, JSONEachRow, Parquet.",
)


TrendDirection = strawberry.enum(
    TrendDirectionValue,
    name="TrendDirection",
    description="The sign of a least-squares slope; FLAT when the fitted change "
    "over the series is under 1% of the mean |value|.",
)


@strawberry.input(description="[start, end): start inclusive, end exclusive, at most 366 days.")
class TimeRangeInput:
    start: datetime
    end: datetime

    def to_range(self) -> TimeRange:
        return TimeRange(start=self.start, end=self.end)


@strawberry.input(description="Inclusive bounds; an omitted bound is open.")
class FloatRangeInput:
    min: float | None = None
    max: float | None = None

    def to_range(self) -> FloatRange:
        return FloatRange(min=self.min, max=self.max)


def _float_range(value: FloatRangeInput | None) -> FloatRange | None:
    return value.to_range() if value is not None else None


def _ids(values: list[uuid.UUID] | None) -> tuple[uuid.UUID, ...] | None:
    return tuple(values) if values is not None else None


@strawberry.input
class AnalyticsFilter:
    agent_ids: list[uuid.UUID] | None = strawberry.field(default=None, description="≤ 100.")
    user_ids: list[uuid.UUID] | None = strawberry.field(
        default=None, description="≤ 100; another user's id needs analytics:admin."
    )
    awareness: FloatRangeInput | None = None
    ethical_score: FloatRangeInput | None = None
    processing_time_ms: FloatRangeInput | None = None

    def to_filter(self) -> FilterRequest:
        return FilterRequest(
            agent_ids=_ids(self.agent_ids),
            user_ids=_ids(self.user_ids),
            awareness=_float_range(self.awareness),
            ethical_score=_float_range(self.ethical_score),
            processing_time_ms=_float_range(self.processing_time_ms),
        )


@strawberry.input
class AggregationInput:
    function: AggregateFunction  # type: ignore[valid-type]
    field: MetricField | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Required except for COUNT."
    )
    percentile: float | None = strawberry.field(
        default=None, description="For PERCENTILE: the level p, 0 < p < 1."
    )

    def to_aggregation(self) -> AggregationRequest:
        return AggregationRequest(
            function=self.function, field=self.field, percentile=self.percentile
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

    def to_request(self) -> AnalyticsRequest:
        return AnalyticsRequest(
            range=self.range.to_range(),
            filter=self.filter.to_filter() if self.filter is not None else None,
            aggregations=tuple(value.to_aggregation() for value in self.aggregations),
            group_by=tuple(self.group_by),
            bucket=self.bucket,
            limit=self.limit,
            offset=self.offset,
        )


@strawberry.type
class AggregateValue:
    function: AggregateFunction  # type: ignore[valid-type]
    field: MetricField | None  # type: ignore[valid-type]
    percentile: float | None
    value: float | None = strawberry.field(description="Null when the group has no value.")

    @classmethod
    def from_record(cls, record: GroupValue) -> AggregateValue:
        return cls(
            function=record.function,
            field=record.field,
            percentile=record.percentile,
            value=record.value,
        )


@strawberry.type(description="One group: its keys (null when not grouped by them) and values.")
class AnalyticsRow:
    bucket: datetime | None
    agent_id: uuid.UUID | None
    user_id: uuid.UUID | None
    violation_category: str | None
    model: str | None
    provider: str | None
    source: str | None
    count: int = strawberry.field(description="Rows in the group.")
    values: list[AggregateValue] = strawberry.field(description="In the order asked.")

    @classmethod
    def from_record(cls, record: Group) -> AnalyticsRow:
        return cls(
            bucket=record.bucket,
            agent_id=record.agent_id,
            user_id=record.user_id,
            violation_category=record.violation_category,
            model=record.model,
            provider=record.provider,
            source=record.source,
            count=record.count,
            values=[AggregateValue.from_record(value) for value in record.values],
        )


@strawberry.type
class AnalyticsResult:
    rows: list[AnalyticsRow]
    limit: int
    offset: int

    @classmethod
    def from_record(cls, page: GroupPage) -> AnalyticsResult:
        return cls(
            rows=[AnalyticsRow.from_record(row) for row in page.rows],
            limit=page.limit,
            offset=page.offset,
        )


@strawberry.type
class TimeSeriesPoint:
    bucket: datetime
    value: float | None
    count: int
    robust_z: float | None = strawberry.field(
        description="0.6745·(value - median)/MAD over the series; null when MAD is 0."
    )
    anomaly: bool = strawberry.field(description="|robustZ| > 3.5 (Iglewicz and Hoaglin).")

    @classmethod
    def from_record(cls, point: SeriesPoint) -> TimeSeriesPoint:
        return cls(
            bucket=point.bucket,
            value=point.value,
            count=point.count,
            robust_z=point.robust_z,
            anomaly=point.anomaly,
        )


@strawberry.type(description="Least-squares line through the points, x in intervals from start.")
class Trend:
    slope_per_interval: float
    intercept: float
    direction: TrendDirection  # type: ignore[valid-type]

    @classmethod
    def from_record(cls, fit: LineFit) -> Trend:
        return cls(slope_per_interval=fit.slope, intercept=fit.intercept, direction=fit.direction)


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

    @classmethod
    def from_record(cls, series: Series) -> TimeSeries:
        points = [TimeSeriesPoint.from_record(point) for point in series.points]
        return cls(
            metric=series.metric,
            interval=series.interval,
            points=points,
            trend=Trend.from_record(series.trend) if series.trend is not None else None,
            anomalies=[point for point in points if point.anomaly],
            anomaly_threshold=ANOMALY_THRESHOLD,
        )


@strawberry.type
class AgentComparison:
    agent_id: uuid.UUID
    count: int
    mean: float | None
    median: float | None
    p95: float | None
    min: float | None
    max: float | None

    @classmethod
    def from_record(cls, record: AgentSummary) -> AgentComparison:
        return cls(
            agent_id=record.agent_id,
            count=record.count,
            mean=record.mean,
            median=record.median,
            p95=record.p95,
            min=record.min,
            max=record.max,
        )


@strawberry.type
class PeriodSummary:
    start: datetime
    end: datetime
    count: int
    mean: float | None

    @classmethod
    def from_record(cls, record: PeriodMean) -> PeriodSummary:
        return cls(start=record.start, end=record.end, count=record.count, mean=record.mean)


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

    @classmethod
    def from_record(cls, record: PeriodChange) -> PeriodComparison:
        return cls(
            metric=record.metric,
            first=PeriodSummary.from_record(record.first),
            second=PeriodSummary.from_record(record.second),
            absolute_change=record.absolute_change,
            relative_change=record.relative_change,
        )


@strawberry.type(description="A download at `url` (GET with your bearer token) until expiresAt.")
class ExportPayload:
    id: str
    url: str
    format: ExportFormat  # type: ignore[valid-type]
    expires_at: datetime

    @classmethod
    def from_record(cls, ticket: ExportTicket) -> ExportPayload:
        return cls(id=ticket.id, url=ticket.url, format=ticket.format, expires_at=ticket.expires_at)

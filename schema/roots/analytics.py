"""Root fields of analytics: aggregate queries, time series, comparisons and exports."""

from __future__ import annotations

import uuid

import strawberry

from auth.permissions import Permission
from resolvers import analytics, analytics_exports, analytics_series
from resolvers.context import Info
from schema.permissions import requires
from schema.types.analytics import (
    AgentComparison,
    AnalyticsQuery,
    AnalyticsResult,
    ExportFormat,
    ExportPayload,
    Interval,
    MetricField,
    PeriodComparison,
    TimeRangeInput,
    TimeSeries,
)

READ = Permission.ANALYTICS_READ


@strawberry.type
class Query:
    @strawberry.field(
        description="Aggregates of your metrics (everyone's with analytics:admin) per group.",
        extensions=requires(READ),
    )
    async def analytics(self, info: Info, query: AnalyticsQuery) -> AnalyticsResult:
        return AnalyticsResult.from_record(await analytics.run_analytics(info, query.to_request()))

    @strawberry.field(
        description="AVG of a metric per interval, with its trend and robust-z anomalies; "
        "at most 10000 points.",
        extensions=requires(READ),
    )
    async def time_series(
        self,
        info: Info,
        metric: MetricField,  # type: ignore[valid-type]
        interval: Interval,  # type: ignore[valid-type]
        range: TimeRangeInput,
        agent_id: uuid.UUID | None = None,
    ) -> TimeSeries:
        series = await analytics_series.time_series(
            info, metric, interval, range.to_range(), agent_id
        )
        return TimeSeries.from_record(series)

    @strawberry.field(
        description="A metric's count, mean, median, p95, min and max per agent (1 to 50).",
        extensions=requires(READ),
    )
    async def compare_agents(
        self,
        info: Info,
        agent_ids: list[uuid.UUID],
        metric: MetricField,  # type: ignore[valid-type]
        range: TimeRangeInput,
    ) -> list[AgentComparison]:
        rows = await analytics_series.compare_agents(info, agent_ids, metric, range.to_range())
        return [AgentComparison.from_record(row) for row in rows]

    @strawberry.field(
        description="A metric's mean in two periods and its relative change.",
        extensions=requires(READ),
    )
    async def compare_periods(
        self,
        info: Info,
        metric: MetricField,  # type: ignore[valid-type]
        first: TimeRangeInput,
        second: TimeRangeInput,
        agent_id: uuid.UUID | None = None,
    ) -> PeriodComparison:
        change = await analytics_series.compare_periods(
            info, metric, first.to_range(), second.to_range(), agent_id
        )
        return PeriodComparison.from_record(change)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A download of the query's result (raw rows without aggregations) at "
        "/exports/{id}, for you only, for a few minutes.",
        extensions=requires(Permission.ANALYTICS_EXPORT),
    )
    async def export_analytics(
        self,
        info: Info,
        query: AnalyticsQuery,
        format: ExportFormat,  # type: ignore[valid-type]
    ) -> ExportPayload:
        ticket = await analytics_exports.export_analytics(info, query.to_request(), format)
        return ExportPayload.from_record(ticket)

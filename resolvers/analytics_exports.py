"""Exports of analytics: registered by the exportAnalytics mutation, fetched at /exports/{id}.

The bytes are ClickHouse's own output formats (CSV, JSONEachRow, Parquet) streamed by
clickhouse-connect's `raw_stream`; Python never converts rows. CSV is ClickHouse's `CSV`
preceded by a header line we write from the (enum-made) column names: that is what
CSVWithNames writes, and chDB streams `CSV` block by block but would build CSVWithNames
whole. A query with no aggregations exports the raw rows in range and filter (every
row, streamed); with aggregations, the groups of the same page `analytics` returns.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from auth.permissions import Principal
from auth.tokens import authenticate
from core.errors import NotFound, ServiceUnavailable, Unauthenticated
from db.analytics import METRICS_COLUMNS, ExportJob
from db.analytics_queries import build_aggregate, build_rows
from resolvers.analytics import AnalyticsRequest, build_query
from resolvers.context import AppState, Info, parse_bearer


class ExportFormat(Enum):
    """The format of an export's bytes (GraphQL enum ExportFormat)."""

    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


EXPORT_PATH = "/exports/"
FORMATS: dict[ExportFormat, tuple[str, str, str]] = {  # ClickHouse format, media type, suffix
    ExportFormat.CSV: ("CSV", "text/csv; charset=utf-8", "csv"),
    ExportFormat.JSON: ("JSONEachRow", "application/x-ndjson", "jsonl"),
    ExportFormat.PARQUET: ("Parquet", "application/vnd.apache.parquet", "parquet"),
}


@dataclass(frozen=True)
class ExportTicket:
    """A registered export: downloadable at `url` by its owner until `expires_at`."""

    id: str
    url: str
    format: ExportFormat
    expires_at: datetime

    @classmethod
    def of(cls, job: ExportJob, fmt: ExportFormat) -> ExportTicket:
        """The ticket of a job just registered in the export registry."""
        return cls(
            id=job.id,
            url=EXPORT_PATH + job.id,
            format=fmt,
            expires_at=datetime.fromtimestamp(job.expires_at, UTC),
        )


def csv_header(columns: tuple[str, ...]) -> bytes:
    """The header line CSVWithNames writes: every name double-quoted."""
    return (",".join(f'"{name}"' for name in columns) + "\n").encode()


async def export_analytics(info: Info, query: AnalyticsRequest, fmt: ExportFormat) -> ExportTicket:
    """Register a download of the query's result for its caller, valid for a few minutes."""
    principal = await info.context.require_principal()
    spec = build_query(principal, query, raw_allowed=True)
    built = build_aggregate(spec) if spec.aggregations else build_rows(spec.filter, METRICS_COLUMNS)
    clickhouse_format, media_type, suffix = FORMATS[fmt]
    settings = info.context.settings
    try:
        job = info.context.stores.analytics.exports.register(
            principal.user_id,
            settings.analytics_export_ttl_seconds,
            sql=built.sql,
            parameters=built.parameters,
            fmt=clickhouse_format,
            media_type=media_type,
            filename=f"consciousness-metrics.{suffix}",
            header=csv_header(built.columns) if fmt is ExportFormat.CSV else b"",
        )
    except OverflowError:
        raise ServiceUnavailable("too many exports are waiting; try again shortly") from None
    return ExportTicket.of(job, fmt)


async def authorize_download(app: AppState, export_id: str, authorization: str) -> ExportJob:
    """The export `export_id` when the bearer token's user registered it and it is live.

    UNAUTHENTICATED without a valid token; NOT_FOUND for an unknown, expired or another
    user's export (so ids of others' exports are indistinguishable from made-up ones).
    """
    token = parse_bearer(authorization)
    if token is None:
        raise Unauthenticated("send 'Authorization: Bearer <access token>'")
    principal: Principal = await authenticate(app.access_tokens, app.stores.tokens, token)
    job = app.stores.analytics.exports.get(export_id, principal.user_id)
    if job is None:
        raise NotFound("no such export, or it has expired")
    return job


async def open_export(app: AppState, job: ExportJob) -> AsyncIterator[bytes]:
    """The export's bytes: the query is started (and may fail) before this returns.

    Yields the header (CSV) with ClickHouse's first chunk, then the rest as it comes.
    """
    stream: AsyncGenerator[bytes, None] = app.stores.analytics.stream_raw(
        job.sql, job.parameters, job.fmt
    )
    first = await anext(stream, b"")

    async def body() -> AsyncIterator[bytes]:
        try:
            yield job.header + first
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    return body()

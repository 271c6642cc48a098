"""Scheduled reports: an analytics export (AnalyticsQuery + format) run on a cron schedule.

The cron expression is parsed by cronsim (standard five fields, UTC). The stored query is
the AnalyticsQuery as given; each run moves its range to end at the run time, keeping its
length ("the last 24 hours"). The export runs under the owner's current permissions (a
user who lost analytics:export gets no more reports), and is delivered to each channel:
by email as an attachment, by webhook inline (base64), each with its row count and the
SHA-256 of the bytes. The evaluator (resolvers/alert_evaluator.py) runs the due ones.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError

from auth.permissions import Permission, Principal
from core.errors import BadUserInput, NotFound
from db.analytics import METRICS_COLUMNS
from db.analytics_queries import (
    AggregateFunction,
    Dimension,
    MetricField,
    TimeBucket,
    build_aggregate,
    build_rows,
)
from db.models import ReportSchedule, User
from db.repositories import alerts as repository
from db.repositories.signing_keys import seal_secret
from outbound.email import Attachment
from resolvers.alert_notify import Notifier
from resolvers.alert_rules import ChannelRequest, check_channels, check_name, check_secret
from resolvers.analytics import (
    AggregationRequest,
    AnalyticsRequest,
    FilterRequest,
    FloatRange,
    TimeRange,
    build_query,
)
from resolvers.analytics_exports import FORMATS, ExportFormat, csv_header
from resolvers.api_keys import principal_of
from resolvers.context import AppState, Info

log = logging.getLogger(__name__)

MAX_SCHEDULES_PER_USER = 20


@dataclass(frozen=True)
class ReportScheduleRequest:
    name: str
    cron: str
    query: AnalyticsRequest
    format: ExportFormat
    channels: tuple[ChannelRequest, ...]
    secret: str | None = None


@dataclass(frozen=True)
class CreatedSchedule:
    schedule: ReportSchedule
    signing_key: str


def next_run(cron: str, after: datetime) -> datetime:
    """The first time after `after` that `cron` names; BAD_USER_INPUT when it is not cron."""
    try:
        return next(CronSim(cron, after))
    except (CronSimError, StopIteration):
        raise BadUserInput(
            f"not a cron expression (5 fields, e.g. '0 7 * * 1'): {cron!r}", field="input.cron"
        ) from None


def query_document(query: AnalyticsRequest) -> dict[str, Any]:
    """The request as JSON: enums by value, times as ISO 8601."""
    document = dataclasses.asdict(query)
    document["range"] = {"start": query.range.start.isoformat(), "end": query.range.end.isoformat()}
    plain: dict[str, Any] = _plain(document)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return getattr(value, "value", value)


def query_from_document(document: dict[str, Any], end: datetime) -> AnalyticsRequest:
    """The stored request, its range moved to end at `end` with the same length."""
    start = datetime.fromisoformat(document["range"]["start"])
    length = datetime.fromisoformat(document["range"]["end"]) - start
    where = document.get("filter")

    def ids(values: list[str] | None) -> tuple[uuid.UUID, ...] | None:
        return tuple(uuid.UUID(value) for value in values) if values else None

    def bounds(value: dict[str, float | None] | None) -> FloatRange | None:
        return FloatRange(**value) if value else None

    return AnalyticsRequest(
        range=TimeRange(end - length, end),
        filter=FilterRequest(
            agent_ids=ids(where["agent_ids"]),
            user_ids=ids(where["user_ids"]),
            awareness=bounds(where["awareness"]),
            ethical_score=bounds(where["ethical_score"]),
            processing_time_ms=bounds(where["processing_time_ms"]),
        )
        if where
        else None,
        aggregations=tuple(
            AggregationRequest(
                AggregateFunction(a["function"]),
                MetricField(a["field"]) if a["field"] else None,
                a["percentile"],
            )
            for a in document["aggregations"]
        ),
        group_by=tuple(Dimension(d) for d in document["group_by"]),
        bucket=TimeBucket(document["bucket"]) if document["bucket"] else None,
        limit=document["limit"],
        offset=document["offset"],
    )


async def create_report_schedule(info: Info, request: ReportScheduleRequest) -> CreatedSchedule:
    context = info.context
    principal = await context.require_principal()
    name = check_name(request.name)
    first_run = next_run(request.cron, datetime.fromtimestamp(context.app.clock.time(), UTC))
    build_query(principal, request.query, raw_allowed=True)  # checks it, BAD_USER_INPUT
    if not request.channels:
        raise BadUserInput("give at least one channel", field="input.channels")
    channels = await check_channels(context.settings, request.channels)
    secret = check_secret(request.secret)
    schedule = ReportSchedule(
        owner_id=uuid.UUID(principal.user_id),
        name=name,
        cron=request.cron,
        query=query_document(request.query),
        format=request.format.value,
        channels=channels,
        secret=b"",
        next_run_at=first_run,
    )
    seal_secret(context.app.keyring, schedule, secret)
    async with context.stores.database.session() as session:
        owned = await repository.list_schedules(session, schedule.owner_id)
        if len(owned) >= MAX_SCHEDULES_PER_USER:
            raise BadUserInput(
                f"you have {MAX_SCHEDULES_PER_USER} report schedules: delete one first",
                field="input",
            )
        session.add(schedule)
    return CreatedSchedule(schedule, secret)


def _owner_scope(principal: Principal) -> uuid.UUID | None:
    return None if principal.has(Permission.ANALYTICS_ADMIN) else uuid.UUID(principal.user_id)


async def list_report_schedules(info: Info) -> list[ReportSchedule]:
    principal = await info.context.require_principal()
    async with info.context.stores.database.read() as session:
        return await repository.list_schedules(session, _owner_scope(principal))


async def delete_report_schedule(info: Info, schedule_id: uuid.UUID) -> uuid.UUID:
    principal = await info.context.require_principal()
    async with info.context.stores.database.session() as session:
        schedule = await repository.get_schedule(session, schedule_id, _owner_scope(principal))
        if schedule is None:
            raise NotFound(f"no report schedule {schedule_id}")
        await session.delete(schedule)
    return schedule_id


async def run_due_reports(app: AppState, notifier: Notifier, now: datetime) -> int:
    """Run every schedule due at `now` that this evaluator claims; how many ran."""
    async with app.stores.database.read() as session:
        due = await repository.due_schedules(session, now)
    ran = 0
    for schedule in due:
        try:
            following = next_run(schedule.cron, now)
            async with app.stores.database.session() as session:
                if not await repository.claim_run(session, schedule, following, now):
                    continue
            ran += await run_report(app, notifier, schedule, now)
        except Exception:  # one report failing must not stop the others or the alerts
            log.exception("report schedule %s failed", schedule.id)
    return ran


async def _owner(app: AppState, owner_id: uuid.UUID) -> Principal | None:
    """The owner as a principal with their current roles; None when gone or deactivated."""
    async with app.stores.database.read() as session:
        user = await session.get(User, owner_id)
    if user is None or not user.is_active:
        return None
    return principal_of(user, f"report-schedule owner {owner_id}")


async def run_report(
    app: AppState, notifier: Notifier, schedule: ReportSchedule, now: datetime
) -> bool:
    """Export the schedule's query as of `now` and start its deliveries; False if skipped."""
    principal = await _owner(app, schedule.owner_id)
    if principal is None or not principal.has(Permission.ANALYTICS_EXPORT):
        log.warning("report schedule %s skipped: its owner may not export", schedule.id)
        return False
    spec = build_query(principal, query_from_document(schedule.query, now), raw_allowed=True)
    built = build_aggregate(spec) if spec.aggregations else build_rows(spec.filter, METRICS_COLUMNS)
    fmt = ExportFormat(schedule.format)
    clickhouse_format, media_type, suffix = FORMATS[fmt]
    chunks = [csv_header(built.columns)] if fmt is ExportFormat.CSV else []
    size = 0
    async for chunk in app.stores.analytics.stream_raw(
        built.sql, built.parameters, clickhouse_format
    ):
        size += len(chunk)
        if size > app.settings.report_max_bytes:
            raise ValueError(f"report over REPORT_MAX_BYTES ({app.settings.report_max_bytes})")
        chunks.append(chunk)
    content = b"".join(chunks)
    if fmt is ExportFormat.PARQUET:
        count_sql = f"SELECT count() FROM ({built.sql})"  # noqa: S608  (built from enums)
        counted = await app.stores.analytics.query_rows(count_sql, built.parameters)
        rows = int(counted[0][0])
    else:
        rows = content.count(b"\n") - (fmt is ExportFormat.CSV)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", schedule.name).strip("._") or "report"
    filename = f"{stem}-{now:%Y%m%dT%H%M%SZ}.{suffix}"
    summary = {
        "scheduleId": str(schedule.id),
        "name": schedule.name,
        "format": fmt.name,
        "rowCount": rows,
        "sha256": hashlib.sha256(content).hexdigest(),
        "bytes": len(content),
        "filename": filename,
        "rangeStart": (now - _length(schedule)).isoformat(),
        "rangeEnd": now.isoformat(),
        "contentBase64": base64.b64encode(content).decode(),
    }
    notifier.notify_report(schedule, summary, Attachment(filename, content, media_type))
    return True


def _length(schedule: ReportSchedule) -> timedelta:
    stored = schedule.query["range"]
    return datetime.fromisoformat(stored["end"]) - datetime.fromisoformat(stored["start"])

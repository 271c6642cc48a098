"""Alert rules, their history and deliveries, alert events and report schedules as GraphQL types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from core.alerts import AlertEvent
from core.alerts import AlertKind as AlertKindValue
from core.alerts import AlertState as AlertStateValue
from core.alerts import ChannelKind as ChannelKindValue
from core.alerts import Comparator as ComparatorValue
from db.analytics_queries import AggregateFunction as AggregateFunctionValue
from db.analytics_queries import MetricField as MetricFieldValue
from db.models import AlertDelivery as AlertDeliveryRow
from db.models import AlertHistory as AlertHistoryRow
from db.models import AlertRule as AlertRuleRow
from db.models import ReportSchedule as ReportScheduleRow
from resolvers.alert_rules import AlertRuleRequest, ChannelRequest, CreatedRule
from resolvers.analytics_exports import ExportFormat as ExportFormatValue
from resolvers.live import Delivered
from resolvers.report_schedules import CreatedSchedule, ReportScheduleRequest
from schema.types.analytics import AggregateFunction, AnalyticsQuery, ExportFormat, MetricField

AlertKind = strawberry.enum(
    AlertKindValue,
    name="AlertKind",
    description="THRESHOLD: the aggregate over the window compared with the threshold. "
    "ANOMALY: the aggregate per bucket over the window; fires when the newest bucket's "
    "robust z-score (Iglewicz-Hoaglin, as timeSeries) exceeds the threshold in absolute value.",
)
AlertState = strawberry.enum(
    AlertStateValue, name="AlertState", description="OK → PENDING → FIRING → RESOLVED."
)
Comparator = strawberry.enum(
    ComparatorValue, name="Comparator", description="value GT/GE/LT/LE/EQ threshold."
)
ChannelKind = strawberry.enum(ChannelKindValue, name="ChannelKind")


@strawberry.input(description="WEBHOOK needs url (http or https); EMAIL needs address.")
class ChannelInput:
    kind: ChannelKind  # type: ignore[valid-type]
    url: str | None = None
    address: str | None = None

    def to_request(self) -> ChannelRequest:
        return ChannelRequest(kind=self.kind, url=self.url, address=self.address)


@strawberry.type
class Channel:
    kind: ChannelKind  # type: ignore[valid-type]
    url: str | None
    address: str | None

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Channel:
        return cls(
            kind=ChannelKindValue(stored["kind"]),
            url=stored.get("url"),
            address=stored.get("address"),
        )


@strawberry.input(
    description="What to watch. Windows, `for` and cooldown are in seconds. A rule reads "
    "your metrics only; allUsers (everyone's) needs analytics:admin."
)
class AlertRuleInput:
    name: str
    window_seconds: int = strawberry.field(description="60 to 604800.")
    threshold: float | None = strawberry.field(
        default=None, description="Required for THRESHOLD; ANOMALY: |z| cut-off, default 3.5."
    )
    kind: AlertKind = AlertKindValue.THRESHOLD  # type: ignore[valid-type]
    function: AggregateFunction = AggregateFunctionValue.AVG  # type: ignore[valid-type]
    field: MetricField | None = None  # type: ignore[valid-type]
    percentile: float | None = strawberry.field(default=None, description="For PERCENTILE.")
    comparator: Comparator = ComparatorValue.GT  # type: ignore[valid-type]
    bucket_seconds: int | None = strawberry.field(
        default=None, description="ANOMALY only: the series' bucket, ≥ 60, ≤ window / 3."
    )
    for_seconds: int = strawberry.field(
        default=0, description="How long the condition must hold before FIRING (PENDING)."
    )
    cooldown_seconds: int = strawberry.field(
        default=0, description="No FIRING notification within this long of the last one."
    )
    agent_id: uuid.UUID | None = None
    category: str | None = strawberry.field(default=None, description="A violation category.")
    source: str | None = strawberry.field(default=None, description="graphql or otlp.")
    all_users: bool = False
    channels: list[ChannelInput] = strawberry.field(default_factory=list)
    secret: str | None = strawberry.field(
        default=None, description="Signs webhook bodies (16-128 chars); generated if omitted."
    )
    enabled: bool = True

    def to_request(self) -> AlertRuleRequest:
        return AlertRuleRequest(
            name=self.name,
            window_seconds=self.window_seconds,
            threshold=self.threshold,
            kind=self.kind,
            function=self.function,
            field=self.field,
            percentile=self.percentile,
            comparator=self.comparator,
            bucket_seconds=self.bucket_seconds,
            for_seconds=self.for_seconds,
            cooldown_seconds=self.cooldown_seconds,
            agent_id=self.agent_id,
            category=self.category,
            source=self.source,
            all_users=self.all_users,
            channels=tuple(channel.to_request() for channel in self.channels),
            secret=self.secret,
            enabled=self.enabled,
        )


@strawberry.type(description="An alert rule and its current state.")
class AlertRule:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    kind: AlertKind  # type: ignore[valid-type]
    function: AggregateFunction  # type: ignore[valid-type]
    field: MetricField | None  # type: ignore[valid-type]
    percentile: float | None
    comparator: Comparator  # type: ignore[valid-type]
    threshold: float
    window_seconds: int
    bucket_seconds: int | None
    for_seconds: int
    cooldown_seconds: int
    agent_id: uuid.UUID | None
    category: str | None
    source: str | None
    all_users: bool
    channels: list[Channel]
    enabled: bool
    state: AlertState  # type: ignore[valid-type]
    last_value: float | None
    last_evaluated_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: AlertRuleRow) -> AlertRule:
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            name=row.name,
            kind=AlertKindValue(row.kind),
            function=AggregateFunctionValue(row.function),
            field=MetricFieldValue(row.field) if row.field is not None else None,
            percentile=row.percentile,
            comparator=ComparatorValue(row.comparator),
            threshold=row.threshold,
            window_seconds=row.window_seconds,
            bucket_seconds=row.bucket_seconds,
            for_seconds=row.for_seconds,
            cooldown_seconds=row.cooldown_seconds,
            agent_id=row.agent_id,
            category=row.category,
            source=row.source,
            all_users=row.all_users,
            channels=[Channel.from_stored(channel) for channel in row.channels],
            enabled=row.enabled,
            state=AlertStateValue(row.state),
            last_value=row.last_value,
            last_evaluated_at=row.last_evaluated_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A new rule, and the secret its webhook bodies are signed with.")
class CreateAlertRulePayload:
    rule: AlertRule
    signing_key: str = strawberry.field(
        description="HMAC-SHA256 key of X-Consciousness-Signature; shown this once."
    )

    @classmethod
    def from_record(cls, created: CreatedRule) -> CreateAlertRulePayload:
        return cls(rule=AlertRule.from_row(created.rule), signing_key=created.signing_key)


@strawberry.type(description="A change of a rule's state; notified: its channels were told.")
class AlertHistoryEntry:
    id: uuid.UUID
    rule_id: uuid.UUID
    state: AlertState  # type: ignore[valid-type]
    previous_state: AlertState  # type: ignore[valid-type]
    value: float | None
    notified: bool
    at: datetime

    @classmethod
    def from_row(cls, row: AlertHistoryRow) -> AlertHistoryEntry:
        return cls(
            id=row.id,
            rule_id=row.rule_id,
            state=AlertStateValue(row.state),
            previous_state=AlertStateValue(row.previous_state),
            value=row.value,
            notified=row.notified,
            at=row.at,
        )


@strawberry.type(description="One notification sent to one channel.")
class AlertDelivery:
    id: uuid.UUID
    channel: ChannelKind  # type: ignore[valid-type]
    target: str
    attempts: int
    status_code: int | None = strawberry.field(description="The last HTTP or SMTP status.")
    ok: bool
    error: str | None
    at: datetime

    @classmethod
    def from_row(cls, row: AlertDeliveryRow) -> AlertDelivery:
        return cls(
            id=row.id,
            channel=ChannelKindValue(row.channel),
            target=row.target,
            attempts=row.attempts,
            status_code=row.status_code,
            ok=row.ok,
            error=row.error,
            at=row.at,
        )


@strawberry.type(description="A rule went FIRING or RESOLVED (and notified).")
class AlertNotification:
    sequence: int
    rule_id: uuid.UUID
    owner_id: uuid.UUID
    rule_name: str
    state: AlertState  # type: ignore[valid-type]
    previous_state: AlertState  # type: ignore[valid-type]
    value: float | None
    threshold: float
    at: datetime
    history_id: uuid.UUID

    @classmethod
    def from_record(cls, event: Delivered[AlertEvent]) -> AlertNotification:
        record = event.record
        return cls(
            sequence=event.sequence,
            rule_id=record.rule_id,
            owner_id=record.owner_id,
            rule_name=record.rule_name,
            state=record.state,
            previous_state=record.previous_state,
            value=record.value,
            threshold=record.threshold,
            at=record.at,
            history_id=record.history_id,
        )


@strawberry.input(
    description="An export on a cron schedule (5 fields, UTC). Each run moves the query's "
    "range to end at the run time, keeping its length."
)
class ReportScheduleInput:
    name: str
    cron: str
    query: AnalyticsQuery
    format: ExportFormat = ExportFormatValue.CSV  # type: ignore[valid-type]
    channels: list[ChannelInput] = strawberry.field(default_factory=list)
    secret: str | None = None

    def to_request(self) -> ReportScheduleRequest:
        return ReportScheduleRequest(
            name=self.name,
            cron=self.cron,
            query=self.query.to_request(),
            format=self.format,
            channels=tuple(channel.to_request() for channel in self.channels),
            secret=self.secret,
        )


@strawberry.type
class ReportSchedule:
    id: uuid.UUID
    name: str
    cron: str
    format: ExportFormat  # type: ignore[valid-type]
    channels: list[Channel]
    next_run_at: datetime
    last_run_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: ReportScheduleRow) -> ReportSchedule:
        return cls(
            id=row.id,
            name=row.name,
            cron=row.cron,
            format=ExportFormatValue(row.format),
            channels=[Channel.from_stored(channel) for channel in row.channels],
            next_run_at=row.next_run_at,
            last_run_at=row.last_run_at,
            created_at=row.created_at,
        )


@strawberry.type
class CreateReportSchedulePayload:
    schedule: ReportSchedule
    signing_key: str

    @classmethod
    def from_record(cls, created: CreatedSchedule) -> CreateReportSchedulePayload:
        return cls(
            schedule=ReportSchedule.from_row(created.schedule),
            signing_key=created.signing_key,
        )

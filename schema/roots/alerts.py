"""Root fields of alert rules (and their history and deliveries) and scheduled reports."""

from __future__ import annotations

import uuid

import strawberry

from auth.permissions import Permission
from resolvers import alert_rules, report_schedules
from resolvers.context import Info
from schema.permissions import requires
from schema.types.alerts import (
    AlertDelivery,
    AlertHistoryEntry,
    AlertRule,
    AlertRuleInput,
    CreateAlertRulePayload,
    CreateReportSchedulePayload,
    ReportSchedule,
    ReportScheduleInput,
)

READ = Permission.ANALYTICS_READ
EXPORT = Permission.ANALYTICS_EXPORT


@strawberry.type
class Query:
    @strawberry.field(
        description="Your alert rules (everyone's with analytics:admin), oldest first.",
        extensions=requires(READ),
    )
    async def alert_rules(self, info: Info) -> list[AlertRule]:
        return [AlertRule.from_row(row) for row in await alert_rules.list_alert_rules(info)]

    @strawberry.field(
        description="A rule's changes of state, newest first (first: 1 to 200).",
        extensions=requires(READ),
    )
    async def alert_history(
        self, info: Info, rule_id: uuid.UUID, first: int = 50
    ) -> list[AlertHistoryEntry]:
        rows = await alert_rules.alert_history(info, rule_id, first)
        return [AlertHistoryEntry.from_row(row) for row in rows]

    @strawberry.field(
        description="The delivery log of a rule's notifications, newest first.",
        extensions=requires(READ),
    )
    async def alert_deliveries(
        self, info: Info, rule_id: uuid.UUID, first: int = 50
    ) -> list[AlertDelivery]:
        rows = await alert_rules.alert_deliveries(info, rule_id, first)
        return [AlertDelivery.from_row(row) for row in rows]

    @strawberry.field(
        description="Your scheduled reports (everyone's with analytics:admin).",
        extensions=requires(EXPORT),
    )
    async def report_schedules(self, info: Info) -> list[ReportSchedule]:
        rows = await report_schedules.list_report_schedules(info)
        return [ReportSchedule.from_row(row) for row in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A new alert rule; its webhook signing secret is answered this once.",
        extensions=requires(READ),
    )
    async def create_alert_rule(self, info: Info, input: AlertRuleInput) -> CreateAlertRulePayload:
        created = await alert_rules.create_alert_rule(info, input.to_request())
        return CreateAlertRulePayload.from_record(created)

    @strawberry.mutation(
        description="Replace a rule's definition; its state starts again from OK.",
        extensions=requires(READ),
    )
    async def update_alert_rule(
        self, info: Info, id: uuid.UUID, input: AlertRuleInput
    ) -> AlertRule:
        return AlertRule.from_row(await alert_rules.update_alert_rule(info, id, input.to_request()))

    @strawberry.mutation(
        description="Delete a rule with its history and deliveries; answers its id.",
        extensions=requires(READ),
    )
    async def delete_alert_rule(self, info: Info, id: uuid.UUID) -> uuid.UUID:
        return await alert_rules.delete_alert_rule(info, id)

    @strawberry.mutation(
        description="A scheduled export, delivered by email (attachment) or webhook.",
        extensions=requires(EXPORT),
    )
    async def create_report_schedule(
        self, info: Info, input: ReportScheduleInput
    ) -> CreateReportSchedulePayload:
        created = await report_schedules.create_report_schedule(info, input.to_request())
        return CreateReportSchedulePayload.from_record(created)

    @strawberry.mutation(
        description="Delete a scheduled report; answers its id.",
        extensions=requires(EXPORT),
    )
    async def delete_report_schedule(self, info: Info, id: uuid.UUID) -> uuid.UUID:
        return await report_schedules.delete_report_schedule(info, id)

"""Reads and writes of alert rules, their history and deliveries, and report schedules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AlertDelivery, AlertHistory, AlertRule, ReportSchedule, User

MAX_LISTED = 500


async def list_rules(session: AsyncSession, owner_id: uuid.UUID | None) -> list[AlertRule]:
    """A user's rules (None: everyone's), oldest first."""
    statement = select(AlertRule).order_by(col(AlertRule.created_at), col(AlertRule.id))
    if owner_id is not None:
        statement = statement.where(col(AlertRule.owner_id) == owner_id)
    return list((await session.exec(statement.limit(MAX_LISTED))).all())


async def count_rules(session: AsyncSession, owner_id: uuid.UUID) -> int:
    statement = select(AlertRule.id).where(col(AlertRule.owner_id) == owner_id)
    return len((await session.exec(statement)).all())


async def enabled_rules(session: AsyncSession) -> list[tuple[AlertRule, list[str]]]:
    """Every enabled rule of an active user, with the owner's roles as they are now."""
    statement = (
        select(AlertRule, User.roles)
        .join(User, col(User.id) == col(AlertRule.owner_id))
        .where(col(AlertRule.enabled), col(User.is_active))
        .order_by(col(AlertRule.id))
    )
    return [(rule, list(roles)) for rule, roles in (await session.exec(statement)).all()]


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, owner_id: uuid.UUID | None
) -> AlertRule | None:
    """The rule when it exists and `owner_id` (None: anyone) owns it."""
    statement = select(AlertRule).where(col(AlertRule.id) == rule_id)
    if owner_id is not None:
        statement = statement.where(col(AlertRule.owner_id) == owner_id)
    return (await session.exec(statement)).first()


async def record_transition(
    session: AsyncSession,
    rule: AlertRule,
    changes: dict[str, Any],
    history: AlertHistory,
) -> bool:
    """Write `changes` to the rule only if its state_version is still the one it was read
    with (bumping it), plus the history row; False when another writer got there first."""
    statement = (
        update(AlertRule)
        .where(col(AlertRule.id) == rule.id, col(AlertRule.state_version) == rule.state_version)
        .values(state_version=rule.state_version + 1, **changes)
    )
    result = await session.exec(statement)
    if result.rowcount != 1:
        return False
    session.add(history)
    return True


async def record_measurements(
    session: AsyncSession, values: list[tuple[uuid.UUID, float | None]], at: datetime
) -> None:
    """Store the last value of rules whose state did not change, in one executemany: these
    fields only inform, so they bump no state_version (and race with no transition)."""
    if not values:
        return
    table = AlertRule.__table__  # type: ignore[attr-defined]
    statement = (
        table.update()
        .where(table.c.id == bindparam("rule_id"))
        .values(last_value=bindparam("value"), last_evaluated_at=at)
    )
    connection = await session.connection()
    await connection.execute(
        statement, [{"rule_id": rule_id, "value": value} for rule_id, value in values]
    )


async def list_history(session: AsyncSession, rule_id: uuid.UUID, limit: int) -> list[AlertHistory]:
    """A rule's changes of state, newest first."""
    statement = (
        select(AlertHistory)
        .where(col(AlertHistory.rule_id) == rule_id)
        .order_by(col(AlertHistory.at).desc(), col(AlertHistory.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def list_deliveries(
    session: AsyncSession, *, rule_id: uuid.UUID | None, schedule_id: uuid.UUID | None, limit: int
) -> list[AlertDelivery]:
    """The delivery log of a rule or a schedule, newest first."""
    statement = select(AlertDelivery).order_by(col(AlertDelivery.at).desc()).limit(limit)
    if rule_id is not None:
        statement = statement.where(col(AlertDelivery.rule_id) == rule_id)
    if schedule_id is not None:
        statement = statement.where(col(AlertDelivery.schedule_id) == schedule_id)
    return list((await session.exec(statement)).all())


async def list_schedules(session: AsyncSession, owner_id: uuid.UUID | None) -> list[ReportSchedule]:
    statement = select(ReportSchedule).order_by(
        col(ReportSchedule.created_at), col(ReportSchedule.id)
    )
    if owner_id is not None:
        statement = statement.where(col(ReportSchedule.owner_id) == owner_id)
    return list((await session.exec(statement.limit(MAX_LISTED))).all())


async def get_schedule(
    session: AsyncSession, schedule_id: uuid.UUID, owner_id: uuid.UUID | None
) -> ReportSchedule | None:
    statement = select(ReportSchedule).where(col(ReportSchedule.id) == schedule_id)
    if owner_id is not None:
        statement = statement.where(col(ReportSchedule.owner_id) == owner_id)
    return (await session.exec(statement)).first()


async def due_schedules(session: AsyncSession, now: datetime) -> list[ReportSchedule]:
    statement = select(ReportSchedule).where(col(ReportSchedule.next_run_at) <= now)
    return list((await session.exec(statement.limit(MAX_LISTED))).all())


async def claim_run(
    session: AsyncSession, schedule: ReportSchedule, next_run_at: datetime, now: datetime
) -> bool:
    """Move a due schedule to its next run, only if no other evaluator has: True when this
    caller claimed the run."""
    statement = (
        update(ReportSchedule)
        .where(
            col(ReportSchedule.id) == schedule.id,
            col(ReportSchedule.next_run_at) == schedule.next_run_at,
        )
        .values(next_run_at=next_run_at, last_run_at=now)
    )
    result = await session.exec(statement)
    return bool(result.rowcount == 1)

"""Reads and writes of agents and their immutable version history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.enums import AgentStatus, AgentType
from core.errors import Conflict
from db.models import Agent, AgentVersion, ConsciousnessSession, EthicsFeedback, User
from db.types import UTCDateTime

# Agents that never ran sort as if their last activity was the epoch, in both directions.
NEVER_ACTIVE = datetime(1970, 1, 1, tzinfo=UTC)
LIKE_ESCAPE = "\\"
NAME_TAKEN = "you already have an agent with this name"


class AgentSortField(StrEnum):
    NAME = "name"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_ACTIVITY = "last_activity"


@dataclass(frozen=True)
class AgentOrdering:
    field: AgentSortField
    descending: bool

    def sort_value(self, agent: Agent) -> str | datetime:
        """The row's value of the sort key (what a cursor carries besides the id)."""
        if self.field is AgentSortField.NAME:
            return agent.name
        if self.field is AgentSortField.LAST_ACTIVITY:
            return agent.last_activity or NEVER_ACTIVE
        value: datetime = getattr(agent, self.field.value)
        return value


@dataclass(frozen=True)
class AgentQuery:
    """Which agents to list; None means no condition. Time bounds are [after, before)."""

    owner_id: uuid.UUID | None = None
    statuses: Sequence[AgentStatus] | None = None
    agent_types: Sequence[AgentType] | None = None
    name_contains: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_activity_after: datetime | None = None
    last_activity_before: datetime | None = None


def _sort_expression(field: AgentSortField) -> ColumnElement[Any]:
    if field is AgentSortField.LAST_ACTIVITY:
        return func.coalesce(col(Agent.last_activity), literal(NEVER_ACTIVE, UTCDateTime()))
    column: ColumnElement[Any] = getattr(Agent, field.value).__clause_element__()
    return column


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards (and the escape character) taken literally."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _conditions(query: AgentQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.owner_id is not None:
        conditions.append(col(Agent.owner_id) == query.owner_id)
    if query.statuses is not None:
        conditions.append(col(Agent.status).in_([status.value for status in query.statuses]))
    if query.agent_types is not None:
        conditions.append(col(Agent.agent_type).in_([kind.value for kind in query.agent_types]))
    if query.name_contains:
        pattern = f"%{escape_like(query.name_contains)}%"
        conditions.append(col(Agent.name).ilike(pattern, escape=LIKE_ESCAPE))
    bounds = (
        (Agent.created_at, query.created_after, query.created_before),
        (Agent.last_activity, query.last_activity_after, query.last_activity_before),
    )
    for column, after, before in bounds:
        if after is not None:
            conditions.append(col(column) >= after)
        if before is not None:
            conditions.append(col(column) < before)
    return conditions


async def list_agents(
    session: AsyncSession,
    query: AgentQuery,
    ordering: AgentOrdering,
    *,
    after: tuple[str | datetime, uuid.UUID] | None,
    limit: int,
) -> list[Agent]:
    """One page of agents in `ordering` (keyset on sort value, then id)."""
    key = _sort_expression(ordering.field)
    statement = select(Agent).where(*_conditions(query))
    if after is not None:
        value, agent_id = after
        if ordering.descending:
            beyond = or_(key < value, and_(key == value, col(Agent.id) < agent_id))
        else:
            beyond = or_(key > value, and_(key == value, col(Agent.id) > agent_id))
        statement = statement.where(beyond)
    if ordering.descending:
        statement = statement.order_by(key.desc(), col(Agent.id).desc())
    else:
        statement = statement.order_by(key.asc(), col(Agent.id).asc())
    rows = await session.exec(statement.limit(limit))
    return list(rows.all())


async def count_agents(session: AsyncSession, query: AgentQuery) -> int:
    """How many agents match `query`, on all pages."""
    statement = select(func.count()).select_from(Agent).where(*_conditions(query))
    return (await session.exec(statement)).one()


async def get_agent(
    session: AsyncSession, agent_id: uuid.UUID, *, owner_id: uuid.UUID | None
) -> Agent | None:
    """The agent, if it exists and (unless `owner_id` is None) belongs to `owner_id`."""
    statement = select(Agent).where(col(Agent.id) == agent_id)
    if owner_id is not None:
        statement = statement.where(col(Agent.owner_id) == owner_id)
    return (await session.exec(statement)).first()


async def agent_named(session: AsyncSession, owner_id: uuid.UUID, name: str) -> Agent | None:
    """The owner's agent called `name` (names are unique per owner), if any."""
    statement = select(Agent).where(col(Agent.owner_id) == owner_id, col(Agent.name) == name)
    return (await session.exec(statement)).first()


async def name_taken(
    session: AsyncSession, owner_id: uuid.UUID, name: str, *, other_than: uuid.UUID | None = None
) -> bool:
    statement = select(Agent.id).where(col(Agent.owner_id) == owner_id, col(Agent.name) == name)
    if other_than is not None:
        statement = statement.where(col(Agent.id) != other_than)
    return (await session.exec(statement)).first() is not None


async def insert_agent(session: AsyncSession, agent: Agent) -> Agent:
    """Insert a new agent; CONFLICT when its owner already has one with that name."""
    if await name_taken(session, agent.owner_id, agent.name):
        raise Conflict(NAME_TAKEN, field="name")
    session.add(agent)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create with the same name won the race
        raise Conflict(NAME_TAKEN, field="name") from None
    return agent


async def update_agent_if_version(
    session: AsyncSession, agent: Agent, expected_version: int, values: dict[str, Any]
) -> bool:
    """Compare-and-set: write `values`, bump the version, only if it is still `expected_version`.

    One `UPDATE … WHERE id = ? AND version = ?`, so of two concurrent writers holding the
    same version exactly one matches a row. On success `agent` is refreshed from the row.
    """
    statement = (
        update(Agent)
        .where(col(Agent.id) == agent.id, col(Agent.version) == expected_version)
        .values(**values, version=col(Agent.version) + 1)
        .execution_options(synchronize_session=False)
    )
    try:
        result = await session.exec(statement)
    except IntegrityError:  # the new name was taken by a concurrent write
        raise Conflict(NAME_TAKEN, field="name") from None
    if result.rowcount != 1:
        return False
    await session.refresh(agent)
    return True


async def current_version(session: AsyncSession, agent_id: uuid.UUID) -> int | None:
    """The agent's version as committed now, None when it no longer exists."""
    statement = select(Agent.version).where(col(Agent.id) == agent_id)
    return (await session.exec(statement)).first()


async def add_version(
    session: AsyncSession,
    *,
    agent: Agent,
    snapshot: dict[str, Any],
    changes: dict[str, Any],
    changed_by: uuid.UUID | None,
) -> AgentVersion:
    """Append the immutable history row of the agent's current version."""
    row = AgentVersion(
        agent_id=agent.id,
        version=agent.version,
        snapshot=snapshot,
        changes=changes,
        changed_by=changed_by,
    )
    session.add(row)
    await session.flush()
    return row


async def list_versions(
    session: AsyncSession, agent_id: uuid.UUID, *, before_version: int | None, limit: int
) -> list[AgentVersion]:
    """History rows newest first, those older than `before_version` when given."""
    statement = select(AgentVersion).where(col(AgentVersion.agent_id) == agent_id)
    if before_version is not None:
        statement = statement.where(col(AgentVersion.version) < before_version)
    statement = statement.order_by(col(AgentVersion.version).desc()).limit(limit)
    return list((await session.exec(statement)).all())


async def get_version(
    session: AsyncSession, agent_id: uuid.UUID, version: int
) -> AgentVersion | None:
    statement = select(AgentVersion).where(
        col(AgentVersion.agent_id) == agent_id, col(AgentVersion.version) == version
    )
    return (await session.exec(statement)).first()


async def delete_agent(session: AsyncSession, agent_id: uuid.UUID) -> bool:
    """Delete the agent with its sessions, feedback and versions; False when already gone.

    The foreign keys cascade, but the children are deleted explicitly so the outcome does
    not depend on the connection's foreign-key setting.
    """
    await session.exec(delete(EthicsFeedback).where(col(EthicsFeedback.agent_id) == agent_id))
    await session.exec(
        delete(ConsciousnessSession).where(col(ConsciousnessSession.agent_id) == agent_id)
    )
    await session.exec(delete(AgentVersion).where(col(AgentVersion.agent_id) == agent_id))
    result = await session.exec(delete(Agent).where(col(Agent.id) == agent_id))
    return result.rowcount == 1


async def users_by_id(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, User]:
    """The users among `user_ids` that exist (agent owners, for the owner loader)."""
    if not user_ids:
        return {}
    rows = await session.exec(select(User).where(col(User.id).in_(set(user_ids))))
    return {user.id: user for user in rows.all()}

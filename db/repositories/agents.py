"""Reads and writes of agents and their immutable version history."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    update,
)
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


# The listing's statements, built once per shape: which filters a query sets, the order, and
# whether it continues after a cursor. Building one (conditions, keyset, order, limit) took
# 0.13-0.3 ms of the 0.7-1 ms a page of 21 took in a read on PostgreSQL, so a shape's
# statement (with SQLAlchemy's cache key memoised on it) is reused and the query's values go
# in as bound parameters. There are at most 2**8 * 4 * 2 * 2 shapes.
@dataclass(frozen=True)
class _Filter:
    """One condition a query may set: its bound parameter's name, its value in a query (None:
    not set), and the condition on that parameter."""

    name: str
    value: Callable[[AgentQuery], Any]
    condition: Callable[[BindParameter[Any]], ColumnElement[bool]]


def _values_of(enums: Sequence[StrEnum] | None) -> list[str] | None:
    return None if enums is None else [member.value for member in enums]


_FILTERS = (
    _Filter("owner_id", lambda q: q.owner_id, lambda p: col(Agent.owner_id) == p),
    _Filter("statuses", lambda q: _values_of(q.statuses), lambda p: col(Agent.status).in_(p)),
    _Filter(
        "agent_types", lambda q: _values_of(q.agent_types), lambda p: col(Agent.agent_type).in_(p)
    ),
    _Filter(
        "name_pattern",
        lambda q: f"%{escape_like(q.name_contains)}%" if q.name_contains else None,
        lambda p: col(Agent.name).ilike(p, escape=LIKE_ESCAPE),
    ),
    _Filter("created_after", lambda q: q.created_after, lambda p: col(Agent.created_at) >= p),
    _Filter("created_before", lambda q: q.created_before, lambda p: col(Agent.created_at) < p),
    _Filter(
        "last_activity_after",
        lambda q: q.last_activity_after,
        lambda p: col(Agent.last_activity) >= p,
    ),
    _Filter(
        "last_activity_before",
        lambda q: q.last_activity_before,
        lambda p: col(Agent.last_activity) < p,
    ),
)
_LISTS = {"statuses", "agent_types"}  # bound as expanding parameters: `IN (...)`


def _values(query: AgentQuery) -> dict[str, Any]:
    """The bound values of the filters `query` sets, by parameter name."""
    values = {f.name: f.value(query) for f in _FILTERS}
    return {name: value for name, value in values.items() if value is not None}


def _conditions(names: frozenset[str]) -> list[ColumnElement[bool]]:
    """The conditions of the filters named `names`, on their bound parameters (typed by the
    column each is compared with, as a literal value would be)."""
    return [
        f.condition(bindparam(f.name, expanding=f.name in _LISTS))
        for f in _FILTERS
        if f.name in names
    ]


@functools.cache
def _page_statement(names: frozenset[str], ordering: AgentOrdering, after: bool) -> Any:
    """A page's statement for the filters named `names`, in `ordering`, after a cursor or
    not (built once per shape)."""
    key = _sort_expression(ordering.field)
    statement = select(Agent).where(*_conditions(names))
    if after:
        # typed by what they are compared with, as literal values would be
        value: BindParameter[Any] = bindparam("after_value")
        agent_id: BindParameter[Any] = bindparam("after_id")
        if ordering.descending:
            beyond = or_(key < value, and_(key == value, col(Agent.id) < agent_id))
        else:
            beyond = or_(key > value, and_(key == value, col(Agent.id) > agent_id))
        statement = statement.where(beyond)
    if ordering.descending:
        statement = statement.order_by(key.desc(), col(Agent.id).desc())
    else:
        statement = statement.order_by(key.asc(), col(Agent.id).asc())
    return statement.limit(bindparam("page_limit", type_=Integer()))


@functools.cache
def _count_statement(names: frozenset[str]) -> Any:
    """The count's statement for the filters named `names` (built once per shape)."""
    return select(func.count()).select_from(Agent).where(*_conditions(names))


async def list_agents(
    session: AsyncSession,
    query: AgentQuery,
    ordering: AgentOrdering,
    *,
    after: tuple[str | datetime, uuid.UUID] | None,
    limit: int,
) -> list[Agent]:
    """One page of agents in `ordering` (keyset on sort value, then id)."""
    values = _values(query)
    statement = _page_statement(frozenset(values), ordering, after is not None)
    if after is not None:
        values["after_value"], values["after_id"] = after
    values["page_limit"] = limit
    rows = await session.exec(statement, params=values)
    return list(rows.all())


async def count_agents(session: AsyncSession, query: AgentQuery) -> int:
    """How many agents match `query`, on all pages."""
    values = _values(query)
    count: int = (await session.exec(_count_statement(frozenset(values)), params=values)).one()
    return count


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

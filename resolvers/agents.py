"""Use cases of agent management: create, list, read, update, roll back, lifecycle, delete.

Ownership: an agent is visible only to its owner and to holders of agents:admin; anyone else
gets NOT_FOUND, as for an id that does not exist, so ids do not leak.

Versions: every change is a compare-and-set on `agents.version` (UPDATE … WHERE id = ? AND
version = ?) followed by an immutable agent_versions row with the full snapshot and the
changes as {field: {before, after}}; both are in the same transaction. A change that
changes nothing writes nothing and returns the agent as it is.

Lifecycle (status state machine):

    INACTIVE --activateAgent--> ACTIVE          (a new agent starts INACTIVE)
    ACTIVE   --pauseAgent-----> PAUSED
    PAUSED   --activateAgent--> ACTIVE
    ACTIVE | PAUSED | ERROR --deactivateAgent--> INACTIVE
    INACTIVE | ACTIVE | PAUSED --mark_agent_error (engine)--> ERROR

ERROR is left only through deactivateAgent (the reset, which records who acknowledged the
error); activating an agent in ERROR is refused so a failure cannot be skipped silently.
Any other request, including one to the current status, is BAD_USER_INPUT naming the
current and the requested status. Each transition bumps the version, writes a version row
and publishes STATUS_CHANGED.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import strawberry

from auth.permissions import Permission, Principal
from core.enums import AgentStatus, AgentType
from core.errors import BadUserInput, Conflict, Forbidden, NotFound
from db.models import Agent as AgentRow
from db.repositories import agents
from db.repositories.agents import AgentOrdering, AgentQuery, AgentSortField
from db.types import utcnow
from engine.config import EngineConfig
from engine.errors import ConfigError
from resolvers.analytics import delete_agent_metrics
from resolvers.context import Context, Info
from resolvers.events import AgentEventKind, publish_agent_event
from resolvers.pagination import build_connection, page_size
from schema.types.agents import (
    Agent,
    AgentConnection,
    AgentFilter,
    AgentOrder,
    AgentVersion,
    CreateAgentInput,
    DeleteAgentPayload,
    OrderDirection,
    UpdateAgentInput,
)

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_CONFIGURATION_BYTES = 16 * 1024
TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    AgentStatus.INACTIVE: frozenset({AgentStatus.ACTIVE, AgentStatus.ERROR}),
    AgentStatus.ACTIVE: frozenset({AgentStatus.PAUSED, AgentStatus.INACTIVE, AgentStatus.ERROR}),
    AgentStatus.PAUSED: frozenset({AgentStatus.ACTIVE, AgentStatus.INACTIVE, AgentStatus.ERROR}),
    AgentStatus.ERROR: frozenset({AgentStatus.INACTIVE}),
}
# Agent columns a version records, by their GraphQL field name.
VERSIONED_FIELDS = {
    "name": "name",
    "description": "description",
    "agent_type": "agentType",
    "configuration": "configuration",
    "status": "status",
}
Compute = Callable[[AgentRow], dict[str, Any]]

# --- validation ----------------------------------------------------------------------------


def validate_configuration(configuration: object) -> dict[str, Any]:
    """The configuration if it is a JSON object of at most 16 KB the engine accepts.

    The engine's own parser (EngineConfig.from_mapping) judges it, so what is stored is
    exactly what the engine will run with; its ConfigError names the bad key, which
    becomes the error's field (`configuration.<key>`, dotted for nested keys).
    """
    if not isinstance(configuration, dict):
        raise BadUserInput("configuration must be a JSON object", field="configuration")
    if len(orjson.dumps(configuration)) > MAX_CONFIGURATION_BYTES:
        raise BadUserInput(
            f"configuration is larger than {MAX_CONFIGURATION_BYTES} bytes", field="configuration"
        )
    try:
        EngineConfig.from_mapping(configuration)
    except ConfigError as exc:
        field = f"configuration.{exc.key}"
        raise BadUserInput(f"{field} {exc.message}", field=field) from None
    return configuration


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadUserInput("name must not be empty", field="name")
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name is longer than {MAX_NAME_CHARS} characters", field="name")
    return name


def _check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise BadUserInput(
            f"description is longer than {MAX_DESCRIPTION_CHARS} characters", field="description"
        )
    return description


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadUserInput("a time must carry a time zone, e.g. 'Z'", field=field)
    return value


# --- helpers -------------------------------------------------------------------------------


def _owner_scope(
    principal: Principal, admin: tuple[Permission, ...] = (Permission.AGENTS_ADMIN,)
) -> uuid.UUID | None:
    """Whose agents the caller may see: their own, or everyone's (None) with one of `admin`."""
    if any(principal.has(permission) for permission in admin):
        return None
    return uuid.UUID(principal.user_id)


def _public(column: str, value: Any) -> Any:
    if column == "agent_type":
        return AgentType(value).name
    if column == "status":
        return AgentStatus(value).name
    return value


def snapshot_of(agent: AgentRow) -> dict[str, Any]:
    """The versioned fields of an agent, as GraphQL names them (enum values by name)."""
    return {
        name: _public(column, getattr(agent, column)) for column, name in VERSIONED_FIELDS.items()
    }


def _not_found(agent_id: uuid.UUID) -> NotFound:
    return NotFound("no such agent", id=str(agent_id))


async def load_visible_agent(
    context: Context,
    agent_id: uuid.UUID,
    admin: tuple[Permission, ...] = (Permission.AGENTS_ADMIN,),
) -> AgentRow:
    """The agent if the caller owns it or holds one of `admin`; NOT_FOUND otherwise."""
    scope = _owner_scope(await context.require_principal(), admin)
    async with context.stores.database.session() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
    if agent is None:
        raise _not_found(agent_id)
    return agent


async def _change(
    context: Context,
    agent_id: uuid.UUID,
    compute: Compute,
    kind: AgentEventKind,
    *,
    scope: uuid.UUID | None,
    changed_by: uuid.UUID | None,
    expected_version: int | None = None,
    notes: dict[str, Any] | None = None,
) -> AgentRow:
    """Apply `compute`'s new column values as one new version, in one transaction.

    CONFLICT (with `currentVersion`) when `expected_version` is stale, or when another
    writer changes the agent between our read and our compare-and-set.
    """
    async with context.stores.database.session() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
        if agent is None:
            raise _not_found(agent_id)
        if expected_version is not None and agent.version != expected_version:
            raise Conflict(
                f"the agent is at version {agent.version}, not {expected_version}",
                currentVersion=agent.version,
            )
        values = compute(agent)
        changes = {
            VERSIONED_FIELDS[column]: {
                "before": _public(column, getattr(agent, column)),
                "after": _public(column, value),
            }
            for column, value in values.items()
            if getattr(agent, column) != value
        }
        if not values or (not changes and notes is None):
            return agent
        if "name" in changes and await agents.name_taken(
            session, agent.owner_id, values["name"], other_than=agent.id
        ):
            raise Conflict(agents.NAME_TAKEN, field="name")
        if not await agents.update_agent_if_version(
            session, agent, agent.version, {**values, "updated_at": utcnow()}
        ):
            current = await agents.current_version(session, agent_id)
            if current is None:
                raise _not_found(agent_id)
            raise Conflict("the agent was changed concurrently", currentVersion=current)
        await agents.add_version(
            session,
            agent=agent,
            snapshot=snapshot_of(agent),
            changes={**changes, **(notes or {})},
            changed_by=changed_by,
        )
    await publish_agent_event(context, kind, agent)
    return agent


async def _change_as_caller(
    info: Info,
    agent_id: uuid.UUID,
    compute: Compute,
    kind: AgentEventKind,
    **options: Any,
) -> Agent:
    principal = await info.context.require_principal()
    row = await _change(
        info.context,
        agent_id,
        compute,
        kind,
        scope=_owner_scope(principal),
        changed_by=uuid.UUID(principal.user_id),
        **options,
    )
    return Agent.from_row(row)


# --- queries -------------------------------------------------------------------------------


def _cursor_kind(ordering: AgentOrdering) -> str:
    return f"agents:{ordering.field.value}:{'desc' if ordering.descending else 'asc'}"


def _decode_after(
    info: Info, kind: str, ordering: AgentOrdering, after: str | None
) -> tuple[str | datetime, uuid.UUID] | None:
    if after is None:
        return None
    values = info.context.app.cursors.decode(kind, after)
    try:
        raw, agent_id = values
        value: str | datetime = (
            raw if ordering.field is AgentSortField.NAME else datetime.fromisoformat(raw)
        )
        return value, uuid.UUID(agent_id)
    except (TypeError, ValueError):
        raise BadUserInput("malformed cursor", field="after") from None


def _agent_query(principal: Principal, where: AgentFilter | None) -> AgentQuery:
    where = where or AgentFilter()
    scope = _owner_scope(principal)
    owner_id = where.owner_id if scope is None else scope
    if scope is not None and where.owner_id not in (None, scope):
        raise Forbidden("listing another user's agents needs the agents:admin permission")
    return AgentQuery(
        owner_id=owner_id,
        statuses=where.status,
        agent_types=where.agent_type,
        name_contains=where.name_contains,
        created_after=_aware(where.created_after, "filter.createdAfter"),
        created_before=_aware(where.created_before, "filter.createdBefore"),
        last_activity_after=_aware(where.last_activity_after, "filter.lastActivityAfter"),
        last_activity_before=_aware(where.last_activity_before, "filter.lastActivityBefore"),
    )


async def list_agents(
    info: Info, where: AgentFilter | None, order: AgentOrder | None, first: int, after: str | None
) -> AgentConnection:
    limit = page_size(first)
    order = order or AgentOrder()
    ordering = AgentOrdering(order.field, descending=order.direction is OrderDirection.DESC)
    kind = _cursor_kind(ordering)
    key = _decode_after(info, kind, ordering, after)
    query = _agent_query(await info.context.require_principal(), where)
    async with info.context.stores.database.session() as session:
        rows, total = await agents.list_agents(session, query, ordering, after=key, limit=limit + 1)
    codec = info.context.app.cursors

    def cursor_of(row: AgentRow) -> str:
        value = ordering.sort_value(row)
        return codec.encode(
            kind, [value if isinstance(value, str) else value.isoformat(), str(row.id)]
        )

    return build_connection(
        rows,
        first=limit,
        total_count=total,
        has_previous_page=after is not None,
        cursor_of=cursor_of,
        node_of=Agent.from_row,
    )


async def get_agent(info: Info, agent_id: uuid.UUID) -> Agent:
    return Agent.from_row(await load_visible_agent(info.context, agent_id))


async def agent_versions(
    info: Info, agent_id: uuid.UUID, first: int, before_version: int | None
) -> list[AgentVersion]:
    """The agent's versions, newest first; `beforeVersion` pages to older ones."""
    limit = page_size(first)
    agent = await load_visible_agent(info.context, agent_id)
    async with info.context.stores.database.session() as session:
        rows = await agents.list_versions(
            session, agent.id, before_version=before_version, limit=limit
        )
    return [AgentVersion.from_row(row) for row in rows]


# --- mutations -----------------------------------------------------------------------------


async def create_agent(info: Info, data: CreateAgentInput) -> Agent:
    context = info.context
    principal = await context.require_principal()
    agent = AgentRow(
        owner_id=uuid.UUID(principal.user_id),
        name=_clean_name(data.name),
        description=_check_description(data.description),
        agent_type=AgentType(data.agent_type).value,
        configuration=validate_configuration(
            {} if data.configuration is None else data.configuration
        ),
    )
    async with context.stores.database.session() as session:
        agent = await agents.insert_agent(session, agent)
        snapshot = snapshot_of(agent)
        await agents.add_version(
            session,
            agent=agent,
            snapshot=snapshot,
            changes={name: {"before": None, "after": value} for name, value in snapshot.items()},
            changed_by=agent.owner_id,
        )
    await publish_agent_event(context, AgentEventKind.CREATED, agent)
    return Agent.from_row(agent)


def _update_values(data: UpdateAgentInput) -> dict[str, Any]:
    """The columns an update sets, validated; null is refused (omit a field to keep it)."""
    given = {
        "name": data.name,
        "description": data.description,
        "agent_type": data.agent_type,
        "configuration": data.configuration,
    }
    values: dict[str, Any] = {}
    for column, value in given.items():
        if value is strawberry.UNSET:
            continue
        if value is None:
            field = VERSIONED_FIELDS[column]
            raise BadUserInput(f"{field} cannot be null; omit it to keep it", field=field)
        values[column] = value
    if "name" in values:
        values["name"] = _clean_name(values["name"])
    if "description" in values:
        values["description"] = _check_description(values["description"])
    if "agent_type" in values:
        values["agent_type"] = AgentType(values["agent_type"]).value
    if "configuration" in values:
        values["configuration"] = validate_configuration(values["configuration"])
    return values


async def update_agent(
    info: Info, agent_id: uuid.UUID, data: UpdateAgentInput, expected_version: int
) -> Agent:
    values = _update_values(data)
    return await _change_as_caller(
        info,
        agent_id,
        lambda _agent: values,
        AgentEventKind.UPDATED,
        expected_version=expected_version,
    )


async def rollback_agent(info: Info, agent_id: uuid.UUID, version: int) -> Agent:
    """A new version whose name, description, type and configuration equal `version`'s."""
    agent = await load_visible_agent(info.context, agent_id)
    async with info.context.stores.database.session() as session:
        old = await agents.get_version(session, agent.id, version)
    if old is None:
        raise NotFound(f"the agent has no version {version}", field="version")
    values = {
        "name": old.snapshot["name"],
        "description": old.snapshot["description"],
        "agent_type": AgentType[old.snapshot["agentType"]].value,
        "configuration": old.snapshot["configuration"],
    }
    return await _change_as_caller(
        info,
        agent_id,
        lambda _agent: values,
        AgentEventKind.UPDATED,
        expected_version=agent.version,
        notes={"rolledBackTo": version},
    )


def _transition_to(target: AgentStatus) -> Compute:
    def compute(agent: AgentRow) -> dict[str, Any]:
        current = AgentStatus(agent.status)
        if target not in TRANSITIONS[current]:
            raise BadUserInput(
                f"an agent cannot go from {current.name} to {target.name}",
                field="status",
                currentStatus=current.name,
                requestedStatus=target.name,
            )
        return {"status": target.value}

    return compute


async def set_agent_status(info: Info, agent_id: uuid.UUID, target: AgentStatus) -> Agent:
    """activateAgent, pauseAgent and deactivateAgent: a legal transition or BAD_USER_INPUT."""
    return await _change_as_caller(
        info, agent_id, _transition_to(target), AgentEventKind.STATUS_CHANGED
    )


async def mark_agent_error(context: Context, agent_id: uuid.UUID, reason: str) -> AgentRow:
    """Put an agent in ERROR on the engine's behalf (no user, no ownership check).

    Already in ERROR: nothing changes, the first reason stands. The reason is recorded in
    the version's changes.
    """

    def compute(agent: AgentRow) -> dict[str, Any]:
        if agent.status == AgentStatus.ERROR.value:
            return {}
        return _transition_to(AgentStatus.ERROR)(agent)

    return await _change(
        context,
        agent_id,
        compute,
        AgentEventKind.STATUS_CHANGED,
        scope=None,
        changed_by=None,
        notes={"reason": reason[:500]},
    )


async def delete_agent(info: Info, agent_id: uuid.UUID, confirm: bool) -> DeleteAgentPayload:
    """Delete the agent, its versions and sessions, in one transaction; needs confirm: true.

    Its analytics rows go after the commit (ClickHouse is not in that transaction); see
    resolvers/analytics.delete_agent_metrics.
    """
    if not confirm:
        raise BadUserInput("deleting an agent needs confirm: true", field="confirm")
    context = info.context
    scope = _owner_scope(await context.require_principal())
    async with context.stores.database.session() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
        if agent is None or not await agents.delete_agent(session, agent_id):
            raise _not_found(agent_id)
    await publish_agent_event(context, AgentEventKind.DELETED, agent)
    await delete_agent_metrics(context, agent_id)
    return DeleteAgentPayload(id=agent_id)

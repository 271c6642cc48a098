"""Use cases that change an agent as a new version: update, roll back, lifecycle, and its history.

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

import enum
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.enums import AgentStatus, AgentType
from core.errors import BadUserInput, Conflict, NotFound
from core.events import AgentEventKind
from db.models import Agent as AgentRow
from db.models import AgentVersion as AgentVersionRow
from db.repositories import agents
from db.types import utcnow
from resolvers.agents import (
    VERSIONED_FIELDS,
    agent_not_found,
    check_description,
    clean_name,
    load_visible_agent,
    owner_scope,
    public_value,
    snapshot_of,
    validate_configuration,
)
from resolvers.context import Context, Info
from resolvers.events import publish_agent_event
from resolvers.pagination import page_size

TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    AgentStatus.INACTIVE: frozenset({AgentStatus.ACTIVE, AgentStatus.ERROR}),
    AgentStatus.ACTIVE: frozenset({AgentStatus.PAUSED, AgentStatus.INACTIVE, AgentStatus.ERROR}),
    AgentStatus.PAUSED: frozenset({AgentStatus.ACTIVE, AgentStatus.INACTIVE, AgentStatus.ERROR}),
    AgentStatus.ERROR: frozenset({AgentStatus.INACTIVE}),
}
Compute = Callable[[AgentRow], dict[str, Any]]
Also = Callable[[AsyncSession, AgentRow], Awaitable[None]]


class Keep(enum.Enum):
    """The value of an AgentPatch field the client omitted: the field keeps its value."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class AgentPatch:
    """The fields an update sets; KEEP leaves one as it is, None (a client's null) is refused."""

    name: str | Keep | None = KEEP
    description: str | Keep | None = KEEP
    agent_type: AgentType | Keep | None = KEEP
    configuration: Any = KEEP  # a JSON value


async def change_agent(
    context: Context,
    agent_id: uuid.UUID,
    compute: Compute,
    kind: AgentEventKind,
    *,
    scope: uuid.UUID | None,
    changed_by: uuid.UUID | None,
    expected_version: int | None = None,
    notes: dict[str, Any] | None = None,
    also: Also | None = None,
) -> AgentRow:
    """Apply `compute`'s new column values as one new version, in one transaction.

    CONFLICT (with `currentVersion`) when `expected_version` is stale, or when another
    writer changes the agent between our read and our compare-and-set. `also` writes the
    change's other rows (a feedback mark, its audit entry) in the same transaction.
    """
    async with context.stores.database.session() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
        if agent is None:
            raise agent_not_found(agent_id)
        if expected_version is not None and agent.version != expected_version:
            raise Conflict(
                f"the agent is at version {agent.version}, not {expected_version}",
                currentVersion=agent.version,
            )
        values = compute(agent)
        changes = {
            VERSIONED_FIELDS[column]: {
                "before": public_value(column, getattr(agent, column)),
                "after": public_value(column, value),
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
                raise agent_not_found(agent_id)
            raise Conflict("the agent was changed concurrently", currentVersion=current)
        await agents.add_version(
            session,
            agent=agent,
            snapshot=snapshot_of(agent),
            changes={**changes, **(notes or {})},
            changed_by=changed_by,
        )
        if also is not None:
            await also(session, agent)
    await publish_agent_event(context, kind, agent)
    return agent


async def _change_as_caller(
    info: Info,
    agent_id: uuid.UUID,
    compute: Compute,
    kind: AgentEventKind,
    **options: Any,
) -> AgentRow:
    principal = await info.context.require_principal()
    return await change_agent(
        info.context,
        agent_id,
        compute,
        kind,
        scope=owner_scope(principal),
        changed_by=uuid.UUID(principal.user_id),
        **options,
    )


# --- history -------------------------------------------------------------------------------


async def agent_versions(
    info: Info, agent_id: uuid.UUID, first: int, before_version: int | None
) -> list[AgentVersionRow]:
    """The agent's versions, newest first; `beforeVersion` pages to older ones."""
    limit = page_size(first)
    agent = await load_visible_agent(info.context, agent_id)
    async with info.context.stores.database.read() as session:
        return await agents.list_versions(
            session, agent.id, before_version=before_version, limit=limit
        )


# --- changes -------------------------------------------------------------------------------


def _update_values(patch: AgentPatch) -> dict[str, Any]:
    """The columns an update sets, validated; null is refused (omit a field to keep it)."""
    given = {
        "name": patch.name,
        "description": patch.description,
        "agent_type": patch.agent_type,
        "configuration": patch.configuration,
    }
    values: dict[str, Any] = {}
    for column, value in given.items():
        if value is KEEP:
            continue
        if value is None:
            field = VERSIONED_FIELDS[column]
            raise BadUserInput(f"{field} cannot be null; omit it to keep it", field=field)
        values[column] = value
    if "name" in values:
        values["name"] = clean_name(values["name"])
    if "description" in values:
        values["description"] = check_description(values["description"])
    if "agent_type" in values:
        values["agent_type"] = AgentType(values["agent_type"]).value
    if "configuration" in values:
        values["configuration"] = validate_configuration(values["configuration"])
    return values


async def update_agent(
    info: Info, agent_id: uuid.UUID, patch: AgentPatch, expected_version: int
) -> AgentRow:
    values = _update_values(patch)
    return await _change_as_caller(
        info,
        agent_id,
        lambda _agent: values,
        AgentEventKind.UPDATED,
        expected_version=expected_version,
    )


async def rollback_agent(info: Info, agent_id: uuid.UUID, version: int) -> AgentRow:
    """A new version whose name, description, type, configuration and active feedback marks
    equal `version`'s (a version from before feedback existed had none)."""
    agent = await load_visible_agent(info.context, agent_id)
    async with info.context.stores.database.read() as session:
        old = await agents.get_version(session, agent.id, version)
    if old is None:
        raise NotFound(f"the agent has no version {version}", field="version")
    values = {
        "name": old.snapshot["name"],
        "description": old.snapshot["description"],
        "agent_type": AgentType[old.snapshot["agentType"]].value,
        "configuration": old.snapshot["configuration"],
        "ethics_feedback": list(old.snapshot.get("ethicsFeedback", [])),
    }
    return await _change_as_caller(
        info,
        agent_id,
        lambda _agent: values,
        AgentEventKind.UPDATED,
        expected_version=agent.version,
        notes={"rolledBackTo": version},
    )


# --- lifecycle -----------------------------------------------------------------------------


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


async def set_agent_status(info: Info, agent_id: uuid.UUID, target: AgentStatus) -> AgentRow:
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

    return await change_agent(
        context,
        agent_id,
        compute,
        AgentEventKind.STATUS_CHANGED,
        scope=None,
        changed_by=None,
        notes={"reason": reason[:500]},
    )

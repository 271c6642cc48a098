"""Use cases of agent management: create, list, read and delete agents, and who may see them.

Ownership: an agent is visible only to its owner and to holders of agents:admin; anyone else
gets NOT_FOUND, as for an id that does not exist, so ids do not leak.

Changes to an agent (update, roll back, lifecycle) and its version history are in
resolvers/agent_versions.py.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.permissions import Permission, Principal
from core.enums import AgentStatus, AgentType
from core.errors import BadUserInput, Forbidden, NotFound, ServiceUnavailable
from core.events import AgentEventKind
from db.analytics_queries import NO_REQUESTS, AgentStats
from db.models import Agent as AgentRow
from db.models import User as UserRow
from db.repositories import agents
from db.repositories.agents import AgentOrdering, AgentQuery, AgentSortField
from engine.config import EngineConfig
from engine.errors import ConfigError
from resolvers.analytics import delete_agent_metrics
from resolvers.auth import ACCOUNT_ROW_FIELDS
from resolvers.context import Context, Info
from resolvers.events import publish_agent_event
from resolvers.loaders import fetch_agent_stats
from resolvers.pagination import Page, build_page, page_size
from resolvers.selection import selects

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_CONFIGURATION_BYTES = 16 * 1024
# Agent columns a version records, by their GraphQL field name.
VERSIONED_FIELDS = {
    "name": "name",
    "description": "description",
    "agent_type": "agentType",
    "configuration": "configuration",
    "status": "status",
    "ethics_feedback": "ethicsFeedback",  # the active feedback marks (resolvers/feedback.py)
}


@dataclass(frozen=True)
class AgentDraft:
    """A new agent as the caller asks for it; `create_agent` validates it."""

    name: str
    agent_type: AgentType
    description: str = ""
    configuration: Any = None  # a JSON value; None means all engine defaults


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


def clean_name(name: str) -> str:
    """The name without surrounding spaces, if it is 1 to MAX_NAME_CHARS characters."""
    name = name.strip()
    if not name:
        raise BadUserInput("name must not be empty", field="name")
    if len(name) > MAX_NAME_CHARS:
        raise BadUserInput(f"name is longer than {MAX_NAME_CHARS} characters", field="name")
    return name


def check_description(description: str) -> str:
    """The description, if it is at most MAX_DESCRIPTION_CHARS characters."""
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


def owner_scope(
    principal: Principal, admin: tuple[Permission, ...] = (Permission.AGENTS_ADMIN,)
) -> uuid.UUID | None:
    """Whose agents the caller may see: their own, or everyone's (None) with one of `admin`."""
    if any(principal.has(permission) for permission in admin):
        return None
    return uuid.UUID(principal.user_id)


def public_value(column: str, value: Any) -> Any:
    """A column's value as a version records it: enum values by their GraphQL name."""
    if column == "agent_type":
        return AgentType(value).name
    if column == "status":
        return AgentStatus(value).name
    return value


def snapshot_of(agent: AgentRow) -> dict[str, Any]:
    """The versioned fields of an agent, as GraphQL names them (enum values by name)."""
    return {
        name: public_value(column, getattr(agent, column))
        for column, name in VERSIONED_FIELDS.items()
    }


def agent_not_found(agent_id: uuid.UUID) -> NotFound:
    return NotFound("no such agent", id=str(agent_id))


async def load_visible_agent(
    context: Context,
    agent_id: uuid.UUID,
    admin: tuple[Permission, ...] = (Permission.AGENTS_ADMIN,),
) -> AgentRow:
    """The agent if the caller owns it or holds one of `admin`; NOT_FOUND otherwise."""
    scope = owner_scope(await context.require_principal(), admin)
    async with context.stores.database.read() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
    if agent is None:
        raise agent_not_found(agent_id)
    return agent


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


def _scoped_query(principal: Principal, where: AgentQuery) -> AgentQuery:
    """The caller's filter, limited to the agents they may see, with its times checked."""
    scope = owner_scope(principal)
    if scope is not None and where.owner_id not in (None, scope):
        raise Forbidden("listing another user's agents needs the agents:admin permission")
    return dataclasses.replace(
        where,
        owner_id=where.owner_id if scope is None else scope,
        created_after=_aware(where.created_after, "filter.createdAfter"),
        created_before=_aware(where.created_before, "filter.createdBefore"),
        last_activity_after=_aware(where.last_activity_after, "filter.lastActivityAfter"),
        last_activity_before=_aware(where.last_activity_before, "filter.lastActivityBefore"),
    )


@dataclass(frozen=True)
class ListedAgent:
    """An agent of a listing's page, with what the page fetched beside it for the fields the
    query selects (None when it does not select them): the owner (its row, or the caller's
    principal, see `_page_owners`), and the stats or the error that stands in their place."""

    row: AgentRow
    owner: UserRow | Principal | None = None
    stats: AgentStats | ServiceUnavailable | None = None


async def _page_owners(
    session: AsyncSession, info: Info, principal: Principal, rows: list[AgentRow]
) -> dict[uuid.UUID, UserRow | Principal]:
    """The owners of the page's agents. The caller, owner of every agent they list unless
    they hold agents:admin, is answered by their principal when the query asks nothing
    of the owner that only the account row has, as `me` is; the others are read in one
    query."""
    wanted = {row.owner_id for row in rows}
    owners: dict[uuid.UUID, UserRow | Principal] = {}
    caller = uuid.UUID(principal.user_id)
    if caller in wanted and not selects(info, f"edges.node.owner.{ACCOUNT_ROW_FIELDS}"):
        owners[caller] = principal
        wanted.discard(caller)
    if wanted:
        owners |= await agents.users_by_id(session, list(wanted))
    return owners


async def _page_stats(
    context: Context, agent_ids: list[uuid.UUID]
) -> dict[uuid.UUID, AgentStats | ServiceUnavailable]:
    """Each agent's stats, or while the analytics store is down the error its field reports
    (the rest of the page is still served)."""
    if not agent_ids:
        return {}
    try:
        found = await fetch_agent_stats(context.stores, agent_ids)
    except ServiceUnavailable as exc:
        return {agent_id: ServiceUnavailable(exc.message) for agent_id in agent_ids}
    return {agent_id: found.get(agent_id, NO_REQUESTS) for agent_id in agent_ids}


async def list_agents(
    info: Info, where: AgentQuery, ordering: AgentOrdering, first: int, after: str | None
) -> Page[ListedAgent]:
    """One page of the agents the caller may see that match `where`, keyset-paginated.

    What the query selects of the page's owners and stats comes with the page, one query
    each, and the total only when totalCount is selected.
    """
    limit = page_size(first)
    kind = _cursor_kind(ordering)
    key = _decode_after(info, kind, ordering, after)
    principal = await info.context.require_principal()
    query = _scoped_query(principal, where)
    total: int | None = None
    owners: dict[uuid.UUID, UserRow | Principal] = {}
    async with info.context.stores.database.read() as session:
        rows = await agents.list_agents(session, query, ordering, after=key, limit=limit + 1)
        if selects(info, "totalCount"):
            total = await agents.count_agents(session, query)
        if selects(info, "edges.node.owner"):
            owners = await _page_owners(session, info, principal, rows[:limit])
    stats: dict[uuid.UUID, AgentStats | ServiceUnavailable] = {}
    if selects(info, "edges.node.stats"):
        stats = await _page_stats(info.context, [row.id for row in rows[:limit]])
    codec = info.context.app.cursors

    def cursor_of(listed: ListedAgent) -> str:
        value = ordering.sort_value(listed.row)
        return codec.encode(
            kind, [value if isinstance(value, str) else value.isoformat(), str(listed.row.id)]
        )

    return build_page(
        [ListedAgent(row, owners.get(row.owner_id), stats.get(row.id)) for row in rows],
        first=limit,
        total_count=total,
        has_previous_page=after is not None,
        cursor_of=cursor_of,
    )


async def get_agent(info: Info, agent_id: uuid.UUID) -> AgentRow:
    return await load_visible_agent(info.context, agent_id)


# --- mutations -----------------------------------------------------------------------------


async def create_agent(info: Info, draft: AgentDraft) -> AgentRow:
    """A new INACTIVE agent owned by the caller, with its version 1."""
    principal = await info.context.require_principal()
    return await create_agent_for(info.context, uuid.UUID(principal.user_id), draft)


async def create_agent_for(
    context: Context,
    owner_id: uuid.UUID,
    draft: AgentDraft,
    status: AgentStatus = AgentStatus.INACTIVE,
) -> AgentRow:
    """A new agent of `owner_id` in `status`, with its version 1; CONFLICT on a taken name."""
    agent = AgentRow(
        owner_id=owner_id,
        name=clean_name(draft.name),
        description=check_description(draft.description),
        agent_type=AgentType(draft.agent_type).value,
        configuration=validate_configuration(
            {} if draft.configuration is None else draft.configuration
        ),
        status=status.value,
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
    return agent


async def delete_agent(info: Info, agent_id: uuid.UUID, confirm: bool) -> uuid.UUID:
    """Delete the agent, its versions and sessions, in one transaction; needs confirm: true.

    Returns the deleted agent's id. Its analytics rows go after the commit (ClickHouse is not
    in that transaction); see resolvers/analytics.delete_agent_metrics.
    """
    if not confirm:
        raise BadUserInput("deleting an agent needs confirm: true", field="confirm")
    context = info.context
    scope = owner_scope(await context.require_principal())
    async with context.stores.database.session() as session:
        agent = await agents.get_agent(session, agent_id, owner_id=scope)
        if agent is None or not await agents.delete_agent(session, agent_id):
            raise agent_not_found(agent_id)
    await publish_agent_event(context, AgentEventKind.DELETED, agent)
    await delete_agent_metrics(context, agent_id)
    await _delete_agent_vectors(context, agent_id)
    return agent_id


async def _delete_agent_vectors(context: Context, agent_id: uuid.UUID) -> None:
    """The deleted agent's session embeddings; a failure is logged (the agent is gone, and
    its vectors can no longer be found: every search is scoped to an existing agent)."""
    try:
        await context.stores.forget_vectors(agent_id=agent_id)
    except Exception:
        log.exception("could not delete the vectors of deleted agent %s", agent_id)

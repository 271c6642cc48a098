"""Root fields of agent management: listing, reading, versions, changes and lifecycle."""

from __future__ import annotations

import uuid

import strawberry

from auth.permissions import Permission
from core.enums import AgentStatus
from resolvers import agent_versions, agents
from resolvers.context import Info
from schema.permissions import requires
from schema.types.agents import (
    Agent,
    AgentConnection,
    AgentFilter,
    AgentOrder,
    AgentVersion,
    CreateAgentInput,
    DeleteAgentPayload,
    UpdateAgentInput,
    listed_agents,
)
from schema.types.pagination import connection

DEFAULT_PAGE_SIZE = 20
DEFAULT_VERSIONS = 50


@strawberry.type
class Query:
    @strawberry.field(
        description="Your agents (everyone's with agents:admin), keyset-paginated; first ≤ 100.",
        extensions=requires(Permission.AGENTS_READ),
    )
    async def agents(
        self,
        info: Info,
        filter: AgentFilter | None = None,
        order_by: AgentOrder | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> AgentConnection:
        where = (filter or AgentFilter()).to_query()
        ordering = (order_by or AgentOrder()).to_ordering()
        page = await agents.list_agents(info, where, ordering, first, after)
        return connection(page, listed_agents())

    @strawberry.field(
        description="One agent; another user's agent is NOT_FOUND.",
        extensions=requires(Permission.AGENTS_READ),
    )
    async def agent(self, info: Info, id: uuid.UUID) -> Agent:
        return Agent.from_row(await agents.get_agent(info, id))

    @strawberry.field(
        description="An agent's versions, newest first; beforeVersion pages to older ones.",
        extensions=requires(Permission.AGENTS_READ),
    )
    async def agent_versions(
        self,
        info: Info,
        id: uuid.UUID,
        first: int = DEFAULT_VERSIONS,
        before_version: int | None = None,
    ) -> list[AgentVersion]:
        rows = await agent_versions.agent_versions(info, id, first, before_version)
        return [AgentVersion.from_row(row) for row in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create an agent (INACTIVE, version 1) owned by you.",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def create_agent(self, info: Info, input: CreateAgentInput) -> Agent:
        return Agent.from_row(await agents.create_agent(info, input.to_draft()))

    @strawberry.mutation(
        description="Change an agent if it is still at expectedVersion, else CONFLICT.",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def update_agent(
        self, info: Info, id: uuid.UUID, input: UpdateAgentInput, expected_version: int
    ) -> Agent:
        row = await agent_versions.update_agent(info, id, input.to_patch(), expected_version)
        return Agent.from_row(row)

    @strawberry.mutation(
        description="A new version with the name, description, type, configuration and "
        "ethics feedback marks of an earlier one.",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def rollback_agent(self, info: Info, id: uuid.UUID, version: int) -> Agent:
        return Agent.from_row(await agent_versions.rollback_agent(info, id, version))

    @strawberry.mutation(
        description="INACTIVE or PAUSED → ACTIVE.", extensions=requires(Permission.AGENTS_WRITE)
    )
    async def activate_agent(self, info: Info, id: uuid.UUID) -> Agent:
        return Agent.from_row(await agent_versions.set_agent_status(info, id, AgentStatus.ACTIVE))

    @strawberry.mutation(
        description="ACTIVE → PAUSED.", extensions=requires(Permission.AGENTS_WRITE)
    )
    async def pause_agent(self, info: Info, id: uuid.UUID) -> Agent:
        return Agent.from_row(await agent_versions.set_agent_status(info, id, AgentStatus.PAUSED))

    @strawberry.mutation(
        description="ACTIVE, PAUSED or ERROR → INACTIVE (the way out of ERROR).",
        extensions=requires(Permission.AGENTS_WRITE),
    )
    async def deactivate_agent(self, info: Info, id: uuid.UUID) -> Agent:
        return Agent.from_row(await agent_versions.set_agent_status(info, id, AgentStatus.INACTIVE))

    @strawberry.mutation(
        description="Delete an agent with its versions and sessions; needs confirm: true.",
        extensions=requires(Permission.AGENTS_DELETE),
    )
    async def delete_agent(self, info: Info, id: uuid.UUID, confirm: bool) -> DeleteAgentPayload:
        return DeleteAgentPayload(id=await agents.delete_agent(info, id, confirm))

"""Agents, their versions, statistics and session summaries, with the inputs that change them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from core.enums import AgentStatus as AgentStatusValue
from core.enums import AgentType as AgentTypeValue
from core.errors import NotFound, ServiceUnavailable
from db.analytics_queries import AgentStats as AgentStatsRow
from db.models import Agent as AgentRow
from db.models import AgentVersion as AgentVersionRow
from db.models import User as UserRow
from db.repositories.agents import AgentOrdering, AgentQuery, AgentSortField
from db.repositories.sessions import SessionSummary
from resolvers.agent_versions import KEEP, AgentPatch
from resolvers.agents import AgentDraft, ListedAgent
from resolvers.context import Info
from resolvers.pagination import page_size
from schema.types.auth import User
from schema.types.pagination import Connection

AgentType = strawberry.enum(AgentTypeValue, name="AgentType", description="What an agent is for.")
AgentStatus = strawberry.enum(
    AgentStatusValue,
    name="AgentStatus",
    description="Lifecycle state: INACTIVE → ACTIVE ⇄ PAUSED, any → ERROR (engine), "
    "ERROR/ACTIVE/PAUSED → INACTIVE. See activateAgent, pauseAgent, deactivateAgent.",
)
AgentOrderField = strawberry.enum(
    AgentSortField,
    name="AgentOrderField",
    description="Sort key of the agents listing; LAST_ACTIVITY sorts never-active agents as "
    "if active at the epoch (first ascending, last descending).",
)

DEFAULT_RECENT_SESSIONS = 5


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type(
    description="What an agent's processed requests add up to (blocked ones included), from "
    "the analytics store's metrics rows within its retention."
)
class AgentStats:
    request_count: int
    mean_awareness: float | None = strawberry.field(description="Mean awareness level, 0 to 1.")
    mean_ethical_score: float | None = strawberry.field(description="Mean ethical score, 0 to 1.")
    p95_processing_time_ms: float | None = strawberry.field(
        description="95th percentile of processing time as analytics' PERCENTILE computes it: "
        "with the n times sorted ascending, the one at 0-based position floor(0.95·n). "
        "Null without requests."
    )

    @classmethod
    def from_stats(cls, stats: AgentStatsRow) -> AgentStats:
        return cls(
            request_count=stats.request_count,
            mean_awareness=stats.mean_awareness,
            mean_ethical_score=stats.mean_ethical_score,
            p95_processing_time_ms=stats.p95_processing_time_ms,
        )


@strawberry.type(description="One processed request, without its texts.")
class ConsciousnessSessionSummary:
    id: uuid.UUID
    request_id: uuid.UUID
    created_at: datetime
    awareness_level: float
    ethical_score: float
    confidence: float
    processing_time_ms: float
    blocked: bool

    @classmethod
    def from_summary(cls, row: SessionSummary) -> ConsciousnessSessionSummary:
        return cls(
            id=row.id,
            request_id=row.request_id,
            created_at=row.created_at,
            awareness_level=row.awareness_level,
            ethical_score=row.ethical_score,
            confidence=row.confidence,
            processing_time_ms=row.processing_time_ms,
            blocked=row.blocked,
        )


@strawberry.type(description="An agent: configuration, state, lifecycle status and version.")
class Agent:
    id: uuid.UUID
    name: str
    description: str
    agent_type: AgentType  # type: ignore[valid-type]
    configuration: JSON
    consciousness_state: JSON
    status: AgentStatus  # type: ignore[valid-type]
    created_at: datetime
    updated_at: datetime
    last_activity: datetime | None
    version: int = strawberry.field(description="Bumped by every change; see agentVersions.")
    owner_id: strawberry.Private[uuid.UUID]
    # What a listing fetched with its page (resolvers/agents.ListedAgent); None elsewhere,
    # where owner and stats come from DataLoaders.
    listed_owner: strawberry.Private[User | None] = None
    listed_stats: strawberry.Private[AgentStatsRow | ServiceUnavailable | None] = None

    @classmethod
    def from_row(
        cls,
        row: AgentRow,
        owner: User | None = None,
        stats: AgentStatsRow | ServiceUnavailable | None = None,
    ) -> Agent:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            agent_type=AgentTypeValue(row.agent_type),
            configuration=JSON(row.configuration),
            consciousness_state=JSON(row.consciousness_state),
            status=AgentStatusValue(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_activity=row.last_activity,
            version=row.version,
            owner_id=row.owner_id,
            listed_owner=owner,
            listed_stats=stats,
        )

    # owner and stats are plain (synchronous) fields when a listing fetched them with its
    # page, and awaitables of a DataLoader otherwise: graphql-core awaits what is awaitable.
    @strawberry.field(graphql_type=User)
    def owner(self, info: Info) -> User | Awaitable[User]:
        if self.listed_owner is not None:
            return self.listed_owner
        return self._load_owner(info)

    async def _load_owner(self, info: Info) -> User:
        user = await info.context.loaders.users.load(self.owner_id)
        if user is None:
            raise NotFound("the agent's owner no longer exists")
        return User.from_row(user)

    @strawberry.field(
        graphql_type=AgentStats | None,
        description="Statistics over this agent's requests; null (with an error) while the "
        "analytics store is unreachable. Fresh as of the metrics writer's last flush.",
    )
    def stats(self, info: Info) -> AgentStats | Awaitable[AgentStats]:
        if isinstance(self.listed_stats, ServiceUnavailable):
            raise self.listed_stats
        if self.listed_stats is not None:
            return AgentStats.from_stats(self.listed_stats)
        return self._load_stats(info)

    async def _load_stats(self, info: Info) -> AgentStats:
        return AgentStats.from_stats(await info.context.loaders.agent_stats.load(self.id))

    @strawberry.field(description="The newest sessions, newest first (first: 1 to 100).")
    async def recent_sessions(
        self, info: Info, first: int = DEFAULT_RECENT_SESSIONS
    ) -> list[ConsciousnessSessionSummary]:
        rows = await info.context.loaders.recent_sessions.load((self.id, page_size(first)))
        return [ConsciousnessSessionSummary.from_summary(row) for row in rows]


def listed_agents() -> Callable[[ListedAgent], Agent]:
    """The nodes of one listing's page, each owner's User made once for all its agents."""
    users: dict[uuid.UUID, User] = {}

    def node(listed: ListedAgent) -> Agent:
        owner, owner_id = listed.owner, listed.row.owner_id
        user = None
        if owner is not None:
            user = users.get(owner_id)
            if user is None:
                made = (
                    User.from_row(owner) if isinstance(owner, UserRow) else User.from_claims(owner)
                )
                user = users[owner_id] = made
        return Agent.from_row(listed.row, owner=user, stats=listed.stats)

    return node


@strawberry.type(description="An immutable record of one version of an agent.")
class AgentVersion:
    version: int
    name: str
    description: str
    agent_type: AgentType  # type: ignore[valid-type]
    configuration: JSON
    status: AgentStatus  # type: ignore[valid-type]
    ethics_feedback: list[uuid.UUID] = strawberry.field(
        description="The ethics feedback marks active in this version (markEthicsFeedback)."
    )
    changes: JSON = strawberry.field(
        description="What this version changed: {field: {before, after}} (and a reason for "
        "ERROR); version 1 lists every field with before null."
    )
    changed_by: uuid.UUID | None = strawberry.field(description="The user; null for the engine.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: AgentVersionRow) -> AgentVersion:
        snapshot: dict[str, Any] = row.snapshot
        return cls(
            version=row.version,
            name=snapshot["name"],
            description=snapshot["description"],
            agent_type=AgentTypeValue[snapshot["agentType"]],
            configuration=JSON(snapshot["configuration"]),
            status=AgentStatusValue[snapshot["status"]],
            ethics_feedback=[uuid.UUID(i) for i in snapshot.get("ethicsFeedback", [])],
            changes=JSON(row.changes),
            changed_by=row.changed_by,
            created_at=row.created_at,
        )


@strawberry.type
class DeleteAgentPayload:
    id: uuid.UUID = strawberry.field(description="The id of the agent that was deleted.")


@strawberry.input
class CreateAgentInput:
    name: str = strawberry.field(description="1 to 100 characters, unique among your agents.")
    agent_type: AgentType  # type: ignore[valid-type]
    description: str = strawberry.field(default="", description="Up to 2000 characters.")
    # Null rather than {} as the default: graphql-core cannot print a JSON object default,
    # so introspection (GraphiQL's) would fail on it.
    configuration: JSON | None = strawberry.field(
        default=None,
        description="Engine settings, checked by the engine's own parser: framework_weights "
        "{utilitarian, deontological, virtue}, blocking_threshold, block_on_critical, "
        "profanity_threshold, metacognition_depth, max_input_chars, state_half_life_sessions; "
        "omitted keys take the engine's defaults, unknown keys are refused. At most 16 KB. "
        "Omitted or null: all defaults.",
    )

    def to_draft(self) -> AgentDraft:
        return AgentDraft(
            name=self.name,
            agent_type=self.agent_type,
            description=self.description,
            configuration=self.configuration,
        )


@strawberry.input(description="Fields to change; an omitted field keeps its value.")
class UpdateAgentInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    agent_type: AgentType | None = strawberry.UNSET  # type: ignore[valid-type]
    configuration: JSON | None = strawberry.UNSET

    def to_patch(self) -> AgentPatch:
        """The patch of this input; an omitted (UNSET) field becomes KEEP."""

        def given(value: Any) -> Any:
            return KEEP if value is strawberry.UNSET else value

        return AgentPatch(
            name=given(self.name),
            description=given(self.description),
            agent_type=given(self.agent_type),
            configuration=given(self.configuration),
        )


@strawberry.input(description="Conditions that listed agents all meet; time bounds are [from, to).")
class AgentFilter:
    status: list[AgentStatus] | None = None  # type: ignore[valid-type]
    agent_type: list[AgentType] | None = None  # type: ignore[valid-type]
    name_contains: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name."
    )
    owner_id: uuid.UUID | None = strawberry.field(
        default=None, description="Needs agents:admin unless it is your own id."
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_activity_after: datetime | None = strawberry.field(
        default=None, description="Never-active agents never match a lastActivity bound."
    )
    last_activity_before: datetime | None = None

    def to_query(self) -> AgentQuery:
        return AgentQuery(
            owner_id=self.owner_id,
            statuses=self.status,
            agent_types=self.agent_type,
            name_contains=self.name_contains,
            created_after=self.created_after,
            created_before=self.created_before,
            last_activity_after=self.last_activity_after,
            last_activity_before=self.last_activity_before,
        )


@strawberry.input
class AgentOrder:
    field: AgentOrderField = AgentSortField.CREATED_AT  # type: ignore[valid-type]
    direction: OrderDirection = OrderDirection.DESC

    def to_ordering(self) -> AgentOrdering:
        return AgentOrdering(self.field, descending=self.direction is OrderDirection.DESC)


AgentConnection = Connection[Agent]

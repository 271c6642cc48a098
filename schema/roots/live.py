"""Root subscription fields: agent events, metrics, state changes and the metrics summary."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from auth.permissions import Permission
from resolvers import live
from resolvers.context import Info
from schema.permissions import requires
from schema.types.alerts import AlertNotification
from schema.types.live import (
    AgentEvent,
    ConnectionRenewal,
    ConsciousnessStateEvent,
    MetricsEvent,
    MetricsSummary,
)

Since = Annotated[
    int | None,
    strawberry.argument(
        description="Resume: first the kept events after this sequence, then live ones."
    ),
]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Created/updated/status/deleted events of one agent (ends after DELETED; "
        "another user's agent is NOT_FOUND), or of all your agents without agentId.",
        extensions=requires(Permission.AGENTS_READ),
    )
    async def agent_events(
        self,
        info: Info,
        agent_id: uuid.UUID | None = None,
        since: Since = None,
    ) -> AsyncGenerator[AgentEvent, None]:
        async for event in live.agent_events(info, agent_id, since):
            yield AgentEvent.from_record(event)

    @strawberry.subscription(
        description="Metrics rows as requests are processed: one agent's, or your own without "
        "agentId. throttleMs > 0 sends at most one row per interval (the latest; `coalesced` "
        "counts the rows it replaced).",
        extensions=requires(Permission.CONSCIOUSNESS_READ),
    )
    async def metrics(
        self,
        info: Info,
        agent_id: uuid.UUID | None = None,
        since: Since = None,
        throttle_ms: int | None = None,
    ) -> AsyncGenerator[MetricsEvent, None]:
        async for event in live.metrics(info, agent_id, since, throttle_ms):
            yield MetricsEvent.from_record(event)

    @strawberry.subscription(
        description="Your alert rules going FIRING or RESOLVED (the notifying changes).",
        extensions=requires(Permission.ANALYTICS_READ),
    )
    async def alerts(
        self, info: Info, since: Since = None
    ) -> AsyncGenerator[AlertNotification, None]:
        async for event in live.alerts(info, since):
            yield AlertNotification.from_record(event)

    @strawberry.subscription(
        description="An agent's consciousness state after each processed input.",
        extensions=requires(Permission.CONSCIOUSNESS_READ),
    )
    async def consciousness_state_changed(
        self,
        info: Info,
        agent_id: uuid.UUID,
        since: Since = None,
    ) -> AsyncGenerator[ConsciousnessStateEvent, None]:
        async for event in live.consciousness_state_changed(info, agent_id, since):
            yield ConsciousnessStateEvent.from_record(event)

    @strawberry.subscription(
        description="Every second: count, errors, processing-time mean and p50/p95/p99, mean "
        "awareness and ethical score of your metrics over the last windowSeconds (1..3600), "
        "counted from the moment you subscribed.",
        extensions=requires(Permission.CONSCIOUSNESS_READ),
    )
    async def metrics_summary(
        self, info: Info, window_seconds: int = 60
    ) -> AsyncGenerator[MetricsSummary, None]:
        async for summary in live.metrics_summary(info, window_seconds):
            yield MetricsSummary.from_record(summary)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Over a websocket only: present a fresh access token (from refreshToken) "
        "on the open connection instead of reconnecting. It must belong to the same user with "
        "the same permissions; the connection then runs as that token until its exp. A refused "
        "token (UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT) changes nothing.",
        extensions=requires(),
    )
    async def renew_connection_token(self, info: Info, access_token: str) -> ConnectionRenewal:
        return ConnectionRenewal.from_record(await live.renew_connection_token(info, access_token))

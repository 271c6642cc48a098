"""Types of the live subscriptions: agent events, metrics, state changes and summaries.

Every event has `sequence`: its number in the broker topic the subscription follows (1, 2, 3,
… per topic). A jump means events were lost (the subscriber was too slow, or they left the
kept window); pass the last sequence received as `since` to resume after a reconnect.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from core.events import AgentChanged, StateChanged
from core.events import AgentEventKind as AgentEventKindValue
from core.records import MetricsRow
from engine.state import AgentState
from resolvers.context import Info
from resolvers.live import Delivered, MetricsWindow, Renewal
from resolvers.pagination import page_size
from schema.types.agents import (
    DEFAULT_RECENT_SESSIONS,
    AgentStatus,
    ConsciousnessSessionSummary,
)
from schema.types.consciousness import ConsciousnessState

AgentEventKind = strawberry.enum(
    AgentEventKindValue, name="AgentEventKind", description="What happened to an agent."
)


@strawberry.type(description="A change to an agent, announced after it was committed.")
class AgentEvent:
    sequence: int
    kind: AgentEventKind  # type: ignore[valid-type]
    agent_id: uuid.UUID
    owner_id: uuid.UUID
    status: AgentStatus  # type: ignore[valid-type]
    version: int
    timestamp: datetime

    @classmethod
    def from_record(cls, event: Delivered[AgentChanged]) -> AgentEvent:
        change = event.record
        return cls(
            sequence=event.sequence,
            kind=change.kind,
            agent_id=change.agent_id,
            owner_id=change.owner_id,
            status=change.status,
            version=change.version,
            timestamp=change.timestamp,
        )


@strawberry.type(description="The metrics row of one processed request (see `process`).")
class MetricsEvent:
    """core.records.MetricsRow's fields (tests/live/test_records.py checks them), numbered."""

    sequence: int
    coalesced: int = strawberry.field(
        description="Events replaced by this one under throttleMs since the previous update."
    )
    request_id: uuid.UUID
    user_id: uuid.UUID
    agent_id: uuid.UUID
    timestamp: datetime
    processing_time_ms: float
    awareness_level: float
    ethical_score: float
    confidence: float
    cognitive_load: float
    valence: float
    arousal: float
    blocked: bool
    error: bool
    violation_categories: list[str]
    input_chars: int
    cpu_percent: float
    memory_mb: float
    gpu_percent: float | None
    source: str = strawberry.field(description="graphql (process) or otlp (/v1/traces).")
    model: str = strawberry.field(description="The observed model call's model; otlp only.")
    provider: str = strawberry.field(description="Its provider (gen_ai.provider.name).")
    input_tokens: int
    output_tokens: int
    trace_id: str = strawberry.field(description="The span's trace id (hex); otlp only.")
    span_id: str

    @classmethod
    def from_record(cls, event: Delivered[MetricsRow]) -> MetricsEvent:
        fields = {f.name: getattr(event.record, f.name) for f in dataclasses.fields(MetricsRow)}
        fields["violation_categories"] = list(event.record.violation_categories)
        return cls(sequence=event.sequence, coalesced=event.coalesced, **fields)


@strawberry.type(description="An agent's consciousness state after a processed input.")
class ConsciousnessStateEvent:
    sequence: int
    agent_id: uuid.UUID
    request_id: uuid.UUID
    blocked: bool
    timestamp: datetime
    state: ConsciousnessState
    raw_state: JSON = strawberry.field(description="The stored state, as the engine wrote it.")

    @strawberry.field(
        description="The agent's newest sessions (first: 1 to 100), read when this event is "
        "sent: each event resolves with fresh DataLoaders."
    )
    async def recent_sessions(
        self, info: Info, first: int = DEFAULT_RECENT_SESSIONS
    ) -> list[ConsciousnessSessionSummary]:
        rows = await info.context.loaders.recent_sessions.load((self.agent_id, page_size(first)))
        return [ConsciousnessSessionSummary.from_summary(row) for row in rows]

    @classmethod
    def from_record(cls, event: Delivered[StateChanged]) -> ConsciousnessStateEvent:
        change = event.record
        return cls(
            sequence=event.sequence,
            agent_id=change.agent_id,
            request_id=change.request_id,
            blocked=change.blocked,
            timestamp=change.timestamp,
            state=ConsciousnessState.from_state(AgentState.from_dict(dict(change.state))),
            raw_state=JSON(change.state),
        )


@strawberry.type(
    description="Your metrics over the last windowSeconds, pushed every second. Computed from "
    "the events this subscription received: it covers the time since you subscribed, up to "
    "the window."
)
class MetricsSummary:
    sequence: int = strawberry.field(description="This subscription's update number, from 1.")
    last_event_sequence: int = strawberry.field(
        description="Sequence of the newest metrics event included (0: none yet)."
    )
    window_seconds: int
    covered_seconds: float = strawberry.field(
        description="How much of the window the subscription has been open for."
    )
    count: int
    error_count: int
    blocked_count: int
    mean_processing_time_ms: float | None
    p50_processing_time_ms: float | None
    p95_processing_time_ms: float | None
    p99_processing_time_ms: float | None
    mean_awareness_level: float | None
    mean_ethical_score: float | None
    timestamp: datetime

    @classmethod
    def from_record(cls, summary: MetricsWindow) -> MetricsSummary:
        return cls(**{f.name: getattr(summary, f.name) for f in dataclasses.fields(summary)})


@strawberry.type(description="The websocket's new authentication, after renewConnectionToken.")
class ConnectionRenewal:
    expires_at: datetime = strawberry.field(
        description="When the renewed token expires; the socket closes then (4401)."
    )
    expires_in: int = strawberry.field(description="Seconds from now until expiresAt.")

    @classmethod
    def from_record(cls, renewal: Renewal) -> ConnectionRenewal:
        return cls(expires_at=renewal.expires_at, expires_in=renewal.expires_in)

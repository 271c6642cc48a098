"""Live subscriptions: authorise, pick the broker topic, and turn its events into GraphQL events.

Each subscription is an async generator holding one local broker subscription (never a Redis
connection of its own), released in `finally` when the client stops or disconnects. Following
one agent needs to own it, or agents:admin / analytics:admin; anyone else's agent is
NOT_FOUND, as in the queries. When the broker is interrupted the subscription ends with an
error (code INTERNAL); the client resubscribes with `since` = the last sequence it received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from starlette.websockets import WebSocket

from auth.permissions import Permission
from auth.tokens import authenticate
from core.alerts import AlertEvent
from core.errors import BadUserInput, Forbidden
from core.events import AgentChanged, AgentEventKind, StateChanged
from core.payloads import PayloadError
from core.records import MetricsRow
from db.pubsub import Subscription
from db.types import utcnow
from resolvers.agents import load_visible_agent
from resolvers.context import Context, Info
from resolvers.events import (
    agent_metrics_topic,
    agent_topic,
    alerts_topic,
    owner_agents_topic,
    state_topic,
    user_metrics_topic,
)
from resolvers.loaders import Loaders

log = logging.getLogger(__name__)

MAX_THROTTLE_MS = 60_000
MAX_WINDOW_SECONDS = 3600
SUMMARY_INTERVAL_SECONDS = 1.0
MAX_SUMMARY_EVENTS = 100_000  # per subscription: the window forgets beyond this many
ADMIN_PERMISSIONS = (Permission.AGENTS_ADMIN, Permission.ANALYTICS_ADMIN)

Record = TypeVar("Record")


@dataclass(frozen=True, slots=True)
class Delivered(Generic[Record]):
    """One broker event as a subscription yields it: its sequence in the topic, its record."""

    sequence: int
    record: Record
    coalesced: int = 0  # events this one replaced under throttleMs since the previous one


@dataclass(frozen=True, slots=True)
class MetricsWindow:
    """One metricsSummary update: the caller's metrics received over the last window."""

    sequence: int
    last_event_sequence: int
    window_seconds: int
    covered_seconds: float
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


@dataclass(frozen=True, slots=True)
class Renewal:
    """The websocket's new authentication: when the renewed token expires, and in how long."""

    expires_at: datetime
    expires_in: int


class Records(Generic[Record]):
    """A subscription's events read as typed records; one whose payload does not parse is
    dropped with a warning (a payload from another version), never ending the subscription."""

    def __init__(
        self, subscription: Subscription, parse: Callable[[Mapping[str, Any]], Record]
    ) -> None:
        self._subscription = subscription
        self._parse = parse

    def __aiter__(self) -> AsyncIterator[Delivered[Record]]:
        return self

    async def __anext__(self) -> Delivered[Record]:
        while True:
            event = await anext(self._subscription)
            try:
                return Delivered(event.sequence, self._parse(event.payload))
            except PayloadError as exc:
                log.warning(
                    "dropped event %d of %s: unreadable payload (%s)",
                    event.sequence,
                    event.topic,
                    exc,
                )


def _fresh_loaders(context: Context) -> None:
    """Give the event about to be resolved its own DataLoaders.

    The context lives as long as the websocket, so without this a loader's cache would
    answer a later event with what an earlier one loaded.
    """
    context.loaders = Loaders.create(context.stores)


def _check_since(since: int | None) -> None:
    if since is not None and since < 0:
        raise BadUserInput("since must be a sequence number ≥ 0", field="since")


async def agent_events(
    info: Info, agent_id: uuid.UUID | None, since: int | None
) -> AsyncGenerator[Delivered[AgentChanged], None]:
    """One agent's events (ending after DELETED), or all of the caller's agents' events."""
    context = info.context
    principal = await context.require_principal()
    _check_since(since)
    if agent_id is not None:
        await load_visible_agent(context, agent_id, ADMIN_PERMISSIONS)
        topic = agent_topic(agent_id)
    else:
        topic = owner_agents_topic(uuid.UUID(principal.user_id))
    async with context.stores.broker.subscribe(topic, since=since) as subscription:
        async for event in Records(subscription, AgentChanged.from_payload):
            _fresh_loaders(context)
            yield event
            if agent_id is not None and event.record.kind is AgentEventKind.DELETED:
                return


async def consciousness_state_changed(
    info: Info, agent_id: uuid.UUID, since: int | None
) -> AsyncGenerator[Delivered[StateChanged], None]:
    context = info.context
    _check_since(since)
    await load_visible_agent(context, agent_id, ADMIN_PERMISSIONS)
    async with context.stores.broker.subscribe(state_topic(agent_id), since=since) as events:
        async for event in Records(events, StateChanged.from_payload):
            _fresh_loaders(context)
            yield event


async def alerts(info: Info, since: int | None) -> AsyncGenerator[Delivered[AlertEvent], None]:
    """The FIRING and RESOLVED notifications of the caller's own alert rules."""
    context = info.context
    principal = await context.require_principal()
    _check_since(since)
    topic = alerts_topic(uuid.UUID(principal.user_id))
    async with context.stores.broker.subscribe(topic, since=since) as subscription:
        async for event in Records(subscription, AlertEvent.from_payload):
            _fresh_loaders(context)
            yield event


async def metrics(
    info: Info, agent_id: uuid.UUID | None, since: int | None, throttle_ms: int | None
) -> AsyncGenerator[Delivered[MetricsRow], None]:
    """One agent's metrics rows, or the caller's own; optionally at most one per throttleMs."""
    context = info.context
    principal = await context.require_principal()
    _check_since(since)
    if throttle_ms is not None and not 0 <= throttle_ms <= MAX_THROTTLE_MS:
        raise BadUserInput(f"throttleMs must be in 0..{MAX_THROTTLE_MS}", field="throttleMs")
    if agent_id is not None:
        await load_visible_agent(context, agent_id, ADMIN_PERMISSIONS)
        topic = agent_metrics_topic(agent_id)
    else:
        topic = user_metrics_topic(uuid.UUID(principal.user_id))
    async with context.stores.broker.subscribe(topic, since=since) as subscription:
        rows = Records(subscription, MetricsRow.from_payload)
        updates = coalesce(rows, throttle_ms / 1000) if throttle_ms else rows
        async for event in updates:
            _fresh_loaders(context)
            yield event


async def coalesce(
    events: AsyncIterator[Delivered[Record]], interval_seconds: float
) -> AsyncIterator[Delivered[Record]]:
    """At most one event per interval: the latest, with how many it replaced since the last.

    The first event goes out at once; later ones within the interval are held, and the
    newest held one goes out when the interval ends.
    """
    loop = asyncio.get_running_loop()
    held: Delivered[Record] | None = None
    coalesced = 0
    allowed_at = 0.0
    fetch = asyncio.ensure_future(anext(events))
    try:
        while True:
            timeout = None if held is None else max(0.0, allowed_at - loop.time())
            done, _ = await asyncio.wait({fetch}, timeout=timeout)
            if fetch in done:
                event = fetch.result()  # the broker's error, if any, ends the subscription
                fetch = asyncio.ensure_future(anext(events))
                coalesced += held is not None
                held = event
                if loop.time() < allowed_at:
                    continue
            assert held is not None
            yield dataclasses.replace(held, coalesced=coalesced)
            held, coalesced = None, 0
            allowed_at = loop.time() + interval_seconds
    finally:
        fetch.cancel()


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default) of sorted values."""
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(
    rows: Sequence[MetricsRow],
    *,
    sequence: int,
    last_event_sequence: int,
    window_seconds: int,
    covered_seconds: float,
) -> MetricsWindow:
    """The summary of the metrics rows received in a window (`sequence`: the update's number)."""
    times = sorted(row.processing_time_ms for row in rows)
    empty = not rows

    def mean(values: list[float]) -> float | None:
        return None if empty else statistics.fmean(values)

    return MetricsWindow(
        sequence=sequence,
        last_event_sequence=last_event_sequence,
        window_seconds=window_seconds,
        covered_seconds=round(min(covered_seconds, window_seconds), 3),
        count=len(rows),
        error_count=sum(1 for row in rows if row.error),
        blocked_count=sum(1 for row in rows if row.blocked),
        mean_processing_time_ms=mean([row.processing_time_ms for row in rows]),
        p50_processing_time_ms=None if empty else percentile(times, 0.50),
        p95_processing_time_ms=None if empty else percentile(times, 0.95),
        p99_processing_time_ms=None if empty else percentile(times, 0.99),
        mean_awareness_level=mean([row.awareness_level for row in rows]),
        mean_ethical_score=mean([row.ethical_score for row in rows]),
        timestamp=utcnow(),
    )


async def metrics_summary(info: Info, window_seconds: int) -> AsyncGenerator[MetricsWindow, None]:
    """Every second, a summary of the caller's metrics received over the last window.

    Per connection, from the moment of subscribing: events from before are not counted, so
    the first `windowSeconds` cover less than a full window (see `coveredSeconds`).
    """
    context = info.context
    principal = await context.require_principal()
    if not 1 <= window_seconds <= MAX_WINDOW_SECONDS:
        raise BadUserInput(
            f"windowSeconds must be in 1..{MAX_WINDOW_SECONDS}", field="windowSeconds"
        )
    loop = asyncio.get_running_loop()
    window: deque[tuple[float, MetricsRow]] = deque(maxlen=MAX_SUMMARY_EVENTS)
    topic = user_metrics_topic(uuid.UUID(principal.user_id))
    async with context.stores.broker.subscribe(topic) as subscription:
        rows = Records(subscription, MetricsRow.from_payload)
        started = loop.time()
        tick_at = started + SUMMARY_INTERVAL_SECONDS
        updates = 0
        last_sequence = 0
        fetch = asyncio.ensure_future(anext(rows))
        try:
            while True:
                done, _ = await asyncio.wait({fetch}, timeout=max(0.0, tick_at - loop.time()))
                if fetch in done:
                    event = fetch.result()
                    fetch = asyncio.ensure_future(anext(rows))
                    window.append((loop.time(), event.record))
                    last_sequence = event.sequence
                    continue
                now = loop.time()
                tick_at = max(tick_at + SUMMARY_INTERVAL_SECONDS, now)
                while window and window[0][0] < now - window_seconds:
                    window.popleft()
                updates += 1
                _fresh_loaders(context)
                yield summarize(
                    [row for _, row in window],
                    sequence=updates,
                    last_event_sequence=last_sequence,
                    window_seconds=window_seconds,
                    covered_seconds=now - started,
                )
        finally:
            fetch.cancel()


async def renew_connection_token(info: Info, access_token: str) -> Renewal:
    """Replace this websocket's principal with `access_token`'s, until its expiry.

    Only over a websocket, for the user who opened it, and with the same permissions
    (a role change ends the old token: reconnect). A refused token changes nothing.
    """
    context = info.context
    connection = context.live
    if connection is None or not isinstance(context.request, WebSocket):
        raise BadUserInput(
            "renewConnectionToken works only over a websocket; over HTTP send the new token "
            "in the Authorization header",
            field="accessToken",
        )
    current = await context.require_principal()
    principal = await authenticate(context.app.access_tokens, context.stores.tokens, access_token)
    if principal.user_id != current.user_id:
        raise Forbidden("the new token belongs to another user; open a new connection")
    if principal.permissions != current.permissions:
        raise Forbidden("the new token carries other permissions; open a new connection")
    if principal.expires_at < current.expires_at:
        raise BadUserInput("the new token expires before the current one", field="accessToken")
    connection.renew(principal, access_token)
    return Renewal(
        expires_at=datetime.fromtimestamp(principal.expires_at, UTC),
        expires_in=max(0, int(principal.expires_at - context.app.clock.time())),
    )

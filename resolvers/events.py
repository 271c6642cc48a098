"""Broker topics, and the one function that announces a change to an agent.

Every agent event (core.events.AgentChanged) goes to two topics: `agent:{id}` for whoever
follows that agent, and `user:{owner_id}:agents` for dashboards that follow all of one user's
agents. Events are published after the change is committed; a broker failure is logged, not
raised, because the change itself has happened and the client must hear that it succeeded.
Metrics rows go to `metrics:agent:{id}` and `metrics:user:{id}` (resolvers/metrics.py).
"""

from __future__ import annotations

import logging
import uuid

from core.enums import AgentStatus
from core.events import AgentChanged, AgentEventKind
from db.models import Agent
from db.types import utcnow
from resolvers.context import Context

log = logging.getLogger(__name__)


def agent_topic(agent_id: uuid.UUID) -> str:
    return f"agent:{agent_id}"


def owner_agents_topic(owner_id: uuid.UUID) -> str:
    return f"user:{owner_id}:agents"


def state_topic(agent_id: uuid.UUID) -> str:
    """Broker topic of an agent's consciousness state changes."""
    return f"agent:{agent_id}:state"


def agent_metrics_topic(agent_id: uuid.UUID) -> str:
    return f"metrics:agent:{agent_id}"


def user_metrics_topic(user_id: uuid.UUID) -> str:
    return f"metrics:user:{user_id}"


def agent_changed(kind: AgentEventKind, agent: Agent) -> AgentChanged:
    """The event: kind, agent and owner ids, status, version, and the time it is sent."""
    return AgentChanged(
        kind=kind,
        agent_id=agent.id,
        owner_id=agent.owner_id,
        status=AgentStatus(agent.status),
        version=agent.version,
        timestamp=utcnow(),
    )


async def publish_agent_event(context: Context, kind: AgentEventKind, agent: Agent) -> None:
    """Publish `kind` for `agent` to its own topic and to its owner's agents topic."""
    payload = agent_changed(kind, agent).to_payload()
    broker = context.stores.broker
    for topic in (agent_topic(agent.id), owner_agents_topic(agent.owner_id)):
        try:
            await broker.publish(topic, payload)
        except Exception:  # the change is committed; a lost event must not fail the request
            log.exception(
                "could not publish %s on %s (request %s)", kind, topic, context.request_id
            )


def alerts_topic(owner_id: uuid.UUID) -> str:
    """Broker topic of the notifying state changes of a user's alert rules."""
    return f"alerts:user:{owner_id}"

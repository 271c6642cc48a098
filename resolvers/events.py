"""Agent events on the broker: the one function that announces a change to an agent.

Every event goes to two topics: `agent:{id}` for whoever follows that agent, and
`user:{owner_id}:agents` for dashboards that follow all of one user's agents. Events are
published after the change is committed; a broker failure is logged, not raised, because
the change itself has happened and the client must hear that it succeeded.
"""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Any

from core.enums import AgentStatus
from db.models import Agent
from db.types import utcnow
from resolvers.context import Context

log = logging.getLogger(__name__)


class AgentEventKind(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    DELETED = "DELETED"


def agent_topic(agent_id: uuid.UUID) -> str:
    return f"agent:{agent_id}"


def owner_agents_topic(owner_id: uuid.UUID) -> str:
    return f"user:{owner_id}:agents"


def agent_event(kind: AgentEventKind, agent: Agent) -> dict[str, Any]:
    """The payload: kind, agent and owner ids, status (GraphQL enum name), version, ISO time."""
    return {
        "kind": kind.value,
        "agentId": str(agent.id),
        "ownerId": str(agent.owner_id),
        "status": AgentStatus(agent.status).name,
        "version": agent.version,
        "timestamp": utcnow().isoformat(),
    }


async def publish_agent_event(context: Context, kind: AgentEventKind, agent: Agent) -> None:
    """Publish `kind` for `agent` to its own topic and to its owner's agents topic."""
    payload = agent_event(kind, agent)
    broker = context.stores.broker
    for topic in (agent_topic(agent.id), owner_agents_topic(agent.owner_id)):
        try:
            await broker.publish(topic, payload)
        except Exception:  # the change is committed; a lost event must not fail the request
            log.exception(
                "could not publish %s on %s (request %s)", kind, topic, context.request_id
            )

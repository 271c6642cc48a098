"""The broker's event kinds besides the metrics row (core/records.py): one class per kind.

The publisher sends `to_payload()` and the subscriber reads `from_payload()`, so both sides
share one definition and one key style (snake_case; GraphQL camelCases the field names).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.enums import AgentStatus
from core.payloads import Payload


class AgentEventKind(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class AgentChanged(Payload):
    """A change to an agent, published after it was committed (topics: resolvers/events.py)."""

    kind: AgentEventKind
    agent_id: uuid.UUID
    owner_id: uuid.UUID
    status: AgentStatus  # in the payload by name, as GraphQL spells it
    version: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class StateChanged(Payload):
    """An agent's consciousness state after a processed input, as that session stored it."""

    agent_id: uuid.UUID
    request_id: uuid.UUID
    blocked: bool
    state: Mapping[str, Any]
    timestamp: datetime

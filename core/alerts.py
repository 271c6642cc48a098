"""The vocabulary of alerting: rule kinds, states, comparators, channels, and the alert event.

Values are what the database stores; GraphQL exposes the names. `AlertEvent` is the broker
payload of a state change that notifies (FIRING, RESOLVED): one definition for the
publisher, the `alerts` subscription and the webhook body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.payloads import Payload


class AlertKind(StrEnum):
    THRESHOLD = "threshold"  # an aggregate over the window compared with a threshold
    ANOMALY = "anomaly"  # the newest bucket's robust z-score beyond the threshold


class AlertState(StrEnum):
    OK = "ok"
    PENDING = "pending"  # the condition holds, not yet for the rule's `for` duration
    FIRING = "firing"
    RESOLVED = "resolved"  # was FIRING, the condition no longer holds


class Comparator(StrEnum):
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    EQ = "eq"

    def holds(self, value: float, threshold: float) -> bool:
        """Whether `value <op> threshold`."""
        if self is Comparator.GT:
            return value > threshold
        if self is Comparator.GE:
            return value >= threshold
        if self is Comparator.LT:
            return value < threshold
        if self is Comparator.LE:
            return value <= threshold
        return value == threshold


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class AlertEvent(Payload):
    """A rule's notifying change of state, as subscribers and webhooks receive it.

    `value` is what the rule measured (None when the window held no value); for ANOMALY
    rules it is the newest bucket's robust z-score.
    """

    rule_id: uuid.UUID
    owner_id: uuid.UUID
    rule_name: str
    state: AlertState
    previous_state: AlertState
    value: float | None
    threshold: float
    at: datetime
    history_id: uuid.UUID

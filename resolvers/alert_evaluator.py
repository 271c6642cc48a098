"""The background evaluator: every interval, the leader measures every enabled rule and runs the
reports that are due.

One process of a deployment leads (db/leader.py: a Redis lease, or the one process of an
embedded deployment); the others' cycles do nothing. Even so every stored change of state
is a compare-and-set on the rule's state_version, and every report run a claim of its
`next_run_at`, so two evaluators that overlapped (a lease that expired mid-cycle) still
record and notify each change once. Only the rules of active users are measured, and a rule
over everyone's rows only while its owner still holds analytics:admin. A cycle that fails
is logged and the next one runs: nothing a rule, a store or a channel does stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from auth.permissions import Permission, permissions_for
from core.alerts import AlertEvent, AlertState
from core.enums import Role
from core.tasks import cancel_and_wait
from db.leader import Leadership
from db.models import AlertHistory, AlertRule
from db.repositories import alerts as repository
from db.types import utcnow
from resolvers.alert_evaluation import Measurement, Transition, measure, next_state
from resolvers.alert_notify import Notifier
from resolvers.context import AppState
from resolvers.report_schedules import run_due_reports

log = logging.getLogger(__name__)

LEADER_KEY = "alerts:evaluator"
LEASE_INTERVALS = 3  # the lease outlives this many intervals without renewal


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did: whether this process led, rules measured, changes recorded."""

    led: bool
    rules: int = 0
    changes: int = 0
    notified: int = 0
    reports: int = 0


def _reads_everyone(roles: list[str]) -> bool:
    """Whether an owner may still read every user's metrics (an allUsers rule of an owner
    who has lost analytics:admin since is not evaluated)."""
    return Permission.ANALYTICS_ADMIN in permissions_for([Role(role) for role in roles])


class AlertEvaluator:
    """The loop (module docstring); `run_cycle(now)` is one round, callable from tests."""

    def __init__(self, app: AppState, notifier: Notifier, interval_seconds: float) -> None:
        self._app = app
        self.notifier = notifier
        self._interval = interval_seconds
        stores = app.stores
        self._leadership = Leadership(
            stores.redis,
            app.settings.redis_key_prefix + LEADER_KEY,
            interval_seconds * LEASE_INTERVALS,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-evaluator")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.notifier.close()
        with contextlib.suppress(Exception):  # the lease expires on its own anyway
            await self._leadership.release()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_cycle(utcnow())
            except Exception:
                log.exception("alert evaluation cycle failed; the next one runs as usual")
            await asyncio.sleep(self._interval)

    async def run_cycle(self, now: datetime) -> CycleReport:
        """Measure every enabled rule at `now`, record each change, notify, run due reports."""
        if not await self._leadership.hold():
            return CycleReport(led=False)
        stores = self._app.stores
        async with stores.database.read() as session:
            rules = [
                rule
                for rule, roles in await repository.enabled_rules(session)
                if not rule.all_users or _reads_everyone(roles)
            ]
        measurements = await measure(stores, rules, now) if rules else {}
        changes = notified = 0
        quiet: list[tuple[uuid.UUID, float | None]] = []
        for rule in rules:
            measurement = measurements[rule.id]
            transition = next_state(rule, measurement, now)
            if transition is None:
                quiet.append((rule.id, measurement.value))
                continue
            try:
                recorded, told = await self._apply(rule, measurement, transition, now)
            except Exception:
                log.exception("could not record the state of alert rule %s", rule.id)
                continue
            changes += recorded
            notified += told
        async with stores.database.session() as session:
            await repository.record_measurements(session, quiet, now)
        reports = await run_due_reports(self._app, self.notifier, now)
        return CycleReport(True, len(rules), changes, notified, reports)

    async def _apply(
        self, rule: AlertRule, measurement: Measurement, transition: Transition, now: datetime
    ) -> tuple[bool, bool]:
        """Store the rule's change of state and its history; notify if due. (False, False)
        when another evaluator stored a change of this rule first."""
        changes: dict[str, object] = {
            "last_value": measurement.value,
            "last_evaluated_at": now,
            "state": transition.state.value,
            "pending_since": transition.pending_since,
        }
        if transition.notify and transition.state is AlertState.FIRING:
            changes["last_notified_at"] = now
        history = AlertHistory(
            rule_id=rule.id,
            state=transition.state.value,
            previous_state=rule.state,
            value=measurement.value,
            notified=transition.notify,
            at=now,
        )
        async with self._app.stores.database.session() as session:
            stored = await repository.record_transition(session, rule, changes, history)
        if not stored:
            return False, False
        if transition.notify:
            event = AlertEvent(
                rule_id=rule.id,
                owner_id=rule.owner_id,
                rule_name=rule.name,
                state=transition.state,
                previous_state=AlertState(rule.state),
                value=measurement.value,
                threshold=rule.threshold,
                at=now.astimezone(UTC),
                history_id=history.id,
            )
            await self.notifier.notify_alert(rule, event)
        return True, transition.notify

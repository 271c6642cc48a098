"""One evaluator fires across two server instances sharing PostgreSQL and Redis.

Two apps of the servers column (same database, same Redis key prefix, as two processes of a
deployment would be) run a cycle at the same moment over a rule whose condition holds: one
leads, and the FIRING is recorded and delivered once. Without the lease (two evaluators that
overlapped after a lease expired), the compare-and-set on the rule still lets only one record
and notify it.
"""

from __future__ import annotations

import asyncio

import pytest

from core.settings import Settings
from tests.alerts.conftest import NOW, AlertApp, MakeApp, Receiver, minutes_before


async def _firing_rule(app: AlertApp, receiver: Receiver) -> tuple[object, str]:
    user = await app.member()
    agent = await user.create_agent()
    created = await user.count_rule(channels=[{"kind": "WEBHOOK", "url": receiver.url}])
    await user.insert(agent, minutes_before(NOW, 1))
    return user, created["rule"]["id"]


@pytest.fixture
def servers_only(settings: Settings) -> None:
    if not settings.redis_url:
        pytest.skip("the embedded column is one process by design: it always leads")


@pytest.mark.usefixtures("servers_only")
async def test_only_the_leader_evaluates(alert_app: MakeApp, receiver: Receiver) -> None:
    async with alert_app() as first, alert_app() as second:
        user, rule_id = await _firing_rule(first, receiver)
        reports = await asyncio.gather(
            first.evaluator.run_cycle(NOW), second.evaluator.run_cycle(NOW)
        )
        assert sorted(report.led for report in reports) == [False, True]
        again = await asyncio.gather(
            first.evaluator.run_cycle(NOW), second.evaluator.run_cycle(NOW)
        )
        assert [r.led for r in again] == [r.led for r in reports]  # the lease stays put
        await first.evaluator.notifier.drain()
        await second.evaluator.notifier.drain()
        history = await user.history(rule_id)  # type: ignore[attr-defined]
        assert [h["state"] for h in history] == ["FIRING"]
        assert len(receiver.received) == 1


@pytest.mark.usefixtures("servers_only")
async def test_overlapping_evaluators_record_a_change_once(
    alert_app: MakeApp, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with alert_app() as first, alert_app() as second:
        user, rule_id = await _firing_rule(first, receiver)
        for app in (first, second):

            async def always() -> bool:
                return True

            monkeypatch.setattr(app.evaluator._leadership, "hold", always)
        reports = await asyncio.gather(
            first.evaluator.run_cycle(NOW), second.evaluator.run_cycle(NOW)
        )
        assert all(report.led for report in reports)
        assert sum(report.changes for report in reports) == 1
        await first.evaluator.notifier.drain()
        await second.evaluator.notifier.drain()
        history = await user.history(rule_id)  # type: ignore[attr-defined]
        assert [h["state"] for h in history] == ["FIRING"]
        assert len(receiver.received) == 1

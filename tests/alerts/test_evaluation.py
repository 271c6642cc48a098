"""Each rule kind fires and resolves on constructed metrics; `for` and cooldown; on both columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.alerts.conftest import NOW, MakeApp, Member, minutes_before
from tests.support import wait_until


async def _states(member: Member, rule_id: str) -> list[tuple[str, bool]]:
    history = await member.history(rule_id)
    return [(entry["state"], entry["notified"]) for entry in history]


async def test_p95_processing_time_fires_and_resolves(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.create_rule(
            function="PERCENTILE",
            field="PROCESSING_TIME_MS",
            percentile=0.95,
            threshold=200,
            windowSeconds=300,
        )
        rule_id = rule["rule"]["id"]
        # 20 rows in the last 5 minutes, every one 250 ms: p95 = 250 > 200.
        await user.insert(
            agent, minutes_before(NOW, *[i / 5 for i in range(1, 21)]), processing_time_ms=250.0
        )
        await app.cycle(NOW)
        # 10 minutes on, the window holds nothing slow: p95 has no value, the rule resolves.
        await app.cycle(NOW + timedelta(minutes=10))
        history = await user.history(rule_id)
        assert [(h["previousState"], h["state"]) for h in history] == [
            ("OK", "FIRING"),
            ("FIRING", "RESOLVED"),
        ]
        assert history[0]["value"] == 250.0


async def test_block_rate_over_an_hour(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.create_rule(
            function="AVG", field="BLOCKED", threshold=0.1, windowSeconds=3600
        )
        rule_id = rule["rule"]["id"]
        await user.insert(agent, minutes_before(NOW, 5, 10, 15, 20), blocked=False)
        await app.cycle(NOW)  # 0 % blocked: stays OK, no history, the value kept
        assert await _states(user, rule_id) == []
        [listed] = (await user.ok("{ alertRules { lastValue lastEvaluatedAt state } }"))[
            "alertRules"
        ]
        assert (listed["lastValue"], listed["state"]) == (0.0, "OK")
        assert datetime.fromisoformat(listed["lastEvaluatedAt"]) == NOW
        await user.insert(agent, minutes_before(NOW, 1), blocked=True)
        await app.cycle(NOW)  # 1 of 5 blocked: 20 % > 10 %
        later = NOW + timedelta(minutes=70)
        await user.insert(agent, minutes_before(later, 5, 10), blocked=False)
        await app.cycle(later)  # the blocked row left the window: 0 %
        assert await _states(user, rule_id) == [("FIRING", True), ("RESOLVED", True)]
        assert (await user.history(rule_id))[0]["value"] == 0.2


async def test_an_agent_without_requests_for_30_minutes(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        quiet, busy = await user.create_agent(), await user.create_agent()
        rule = await user.create_rule(
            function="COUNT", comparator="EQ", threshold=0, windowSeconds=1800, agentId=str(quiet)
        )
        rule_id = rule["rule"]["id"]
        await user.insert(busy, minutes_before(NOW, 1, 2, 3))  # another agent's rows count not
        await user.insert(quiet, minutes_before(NOW, 40))  # before the window
        await app.cycle(NOW)
        await user.insert(quiet, minutes_before(NOW + timedelta(minutes=5), 1))
        await app.cycle(NOW + timedelta(minutes=5))
        history = await user.history(rule_id)
        assert [(h["state"], h["value"]) for h in history] == [("FIRING", 0.0), ("RESOLVED", 1.0)]


async def test_anomaly_of_the_newest_bucket(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.create_rule(
            kind="ANOMALY",
            function="AVG",
            field="PROCESSING_TIME_MS",
            windowSeconds=3600,
            bucketSeconds=300,
        )
        rule_id = rule["rule"]["id"]
        # Eleven 5-minute buckets around 100 ms, then one at 900 ms: |robust z| ≫ 3.5.
        base = [100.0, 104.0, 98.0, 101.0, 97.0, 103.0, 99.0, 102.0, 100.0, 96.0, 105.0]
        for index, value in enumerate(base):
            moment = NOW - timedelta(minutes=60 - 5 * index - 1)
            await user.insert(agent, [moment], processing_time_ms=value)
        await user.insert(agent, [NOW - timedelta(minutes=2)], processing_time_ms=900.0)
        await app.cycle(NOW)
        # The next bucket is ordinary again: resolved.
        await user.insert(agent, [NOW + timedelta(minutes=3)], processing_time_ms=101.0)
        await app.cycle(NOW + timedelta(minutes=5))
        history = await user.history(rule_id)
        assert [h["state"] for h in history] == ["FIRING", "RESOLVED"]
        assert history[0]["value"] > 3.5
        assert abs(history[1]["value"]) <= 3.5


async def test_for_holds_pending_until_the_duration_has_passed(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.create_rule(
            function="COUNT", comparator="GE", threshold=1, windowSeconds=3600, forSeconds=600
        )
        rule_id = rule["rule"]["id"]
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)  # PENDING
        await app.cycle(NOW + timedelta(minutes=5))  # held 5 of 10 minutes: still PENDING
        assert await _states(user, rule_id) == [("PENDING", False)]
        await app.cycle(NOW + timedelta(minutes=10))  # held 10 minutes: FIRING
        assert await _states(user, rule_id) == [("PENDING", False), ("FIRING", True)]


async def test_a_condition_that_stops_while_pending_never_fires(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.count_rule(forSeconds=600)
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        await app.cycle(NOW + timedelta(minutes=8))  # the row left the 5-minute window
        assert await _states(user, rule["rule"]["id"]) == [("PENDING", False), ("OK", False)]


async def test_cooldown_suppresses_a_second_firing_and_its_resolution(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.count_rule(cooldownSeconds=3600)
        rule_id = rule["rule"]["id"]
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)  # FIRING, notified
        await app.cycle(NOW + timedelta(minutes=10))  # RESOLVED, notified
        await user.insert(agent, minutes_before(NOW + timedelta(minutes=20), 1))
        await app.cycle(NOW + timedelta(minutes=20))  # FIRING within the hour: not notified
        await app.cycle(NOW + timedelta(minutes=30))  # its RESOLVED: not notified either
        await user.insert(agent, minutes_before(NOW + timedelta(minutes=70), 1))
        await app.cycle(NOW + timedelta(minutes=70))  # an hour after the first: notified
        assert await _states(user, rule_id) == [
            ("FIRING", True),
            ("RESOLVED", True),
            ("FIRING", False),
            ("RESOLVED", False),
            ("FIRING", True),
        ]


async def test_the_servers_own_loop_evaluates_on_schedule(alert_app: MakeApp) -> None:
    """With ALERTS_ENABLED the lifespan's evaluator runs by itself, at the real time."""
    async with alert_app(alerts_enabled=True, alert_evaluation_interval_seconds=0.2) as app:
        user = await app.member()
        agent = await user.create_agent()
        rule = await user.count_rule()
        await user.insert(agent, minutes_before(datetime.now(UTC), 1))

        async def fired() -> bool:
            return await _states(user, rule["rule"]["id"]) == [("FIRING", True)]

        await wait_until(fired, "the evaluation loop fires the rule", within=30)


async def test_rules_of_different_windows_measured_together(alert_app: MakeApp) -> None:
    """One scan answers windows of 5 minutes and 1 hour: each counts its own rows only."""
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        short = await user.count_rule(2)
        long = await user.create_rule(
            function="COUNT", comparator="GE", threshold=2, windowSeconds=3600
        )
        slow = await user.create_rule(
            function="MAX", field="PROCESSING_TIME_MS", threshold=400, windowSeconds=3600
        )
        await user.insert(agent, minutes_before(NOW, 1), processing_time_ms=100.0)
        await user.insert(agent, minutes_before(NOW, 30), processing_time_ms=500.0)
        await app.cycle(NOW)
        listed = (await user.ok("{ alertRules { id lastValue state } }"))["alertRules"]
        found = {rule["id"]: (rule["lastValue"], rule["state"]) for rule in listed}
        assert found[short["rule"]["id"]] == (1.0, "OK")
        assert found[long["rule"]["id"]] == (2.0, "FIRING")
        assert found[slow["rule"]["id"]] == (500.0, "FIRING")

"""The GraphQL API of alert rules and report schedules: CRUD, ownership, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import col, select

from core.enums import Role
from db.models import AlertHistory, AlertRule, User
from tests.alerts.conftest import NOW, MakeApp, minutes_before
from tests.support import PASSWORD, error_codes

RULES = "{ alertRules { id name ownerId state channels { kind url } } }"
UPDATE = """
mutation($id: UUID!, $input: AlertRuleInput!) { updateAlertRule(id: $id, input: $input) {
  id name threshold state } }"""
DELETE = "mutation($id: UUID!) { deleteAlertRule(id: $id) }"
CREATE_RULE = """
mutation($input: AlertRuleInput!) { createAlertRule(input: $input) { rule { id } } }"""
CREATE_SCHEDULE = """
mutation($input: ReportScheduleInput!) {
  createReportSchedule(input: $input) { signingKey schedule { id cron nextRunAt format } } }"""
SCHEDULES = "{ reportSchedules { id name } }"
DELETE_SCHEDULE = "mutation($id: UUID!) { deleteReportSchedule(id: $id) }"
GOOD = {"name": "slow", "function": "AVG", "field": "PROCESSING_TIME_MS", "threshold": 200,
        "windowSeconds": 300}  # fmt: skip
QUERY = {"range": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}}


def _bad_field(body: dict[str, Any]) -> str:
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    field: str = body["errors"][0]["extensions"]["field"]
    return field


async def test_create_list_update_delete(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user, other = await app.member(), await app.member()
        created = await user.create_rule(**{**GOOD, "name": "mine"})
        rule_id = created["rule"]["id"]
        assert len(created["signingKey"]) >= 32
        listed = (await user.ok(RULES))["alertRules"]
        assert [(r["id"], r["state"]) for r in listed] == [(rule_id, "OK")]
        assert (await other.ok(RULES))["alertRules"] == []
        updated = await user.ok(
            UPDATE, id=rule_id, input={**GOOD, "name": "faster", "threshold": 100}
        )
        assert updated["updateAlertRule"]["threshold"] == 100
        # Another user can neither change, read the history of, nor delete it.
        assert error_codes(await other.send(UPDATE, id=rule_id, input=GOOD)) == ["NOT_FOUND"]
        assert error_codes(await other.send(DELETE, id=rule_id)) == ["NOT_FOUND"]
        history = "query($id: UUID!) { alertHistory(ruleId: $id) { state } }"
        assert error_codes(await other.send(history, id=rule_id)) == ["NOT_FOUND"]
        assert (await user.ok(DELETE, id=rule_id))["deleteAlertRule"] == rule_id
        assert (await user.ok(RULES))["alertRules"] == []


async def test_no_rule_over_another_users_agent(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        owner, intruder = await app.member(), await app.member()
        agent = await owner.create_agent()
        body = await intruder.send(CREATE_RULE, input={**GOOD, "agentId": str(agent)})
        assert error_codes(body) == ["NOT_FOUND"]
        body = await intruder.send(CREATE_RULE, input={**GOOD, "allUsers": True})
        assert error_codes(body) == ["FORBIDDEN"]
        admin = await app.member(Role.ADMIN)
        await admin.create_rule(**{**GOOD, "agentId": str(agent), "allUsers": True})


async def test_alerts_only_about_ones_own_metrics(alert_app: MakeApp) -> None:
    """A rule without filters reads its owner's rows: another user's busy agent moves nothing."""
    async with alert_app() as app:
        watcher, busy = await app.member(), await app.member()
        agent = await busy.create_agent()
        created = await watcher.count_rule()
        await busy.insert(agent, minutes_before(NOW, 1, 2, 3))
        await app.cycle(NOW)
        assert await watcher.history(created["rule"]["id"]) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"windowSeconds": 10}, "input.windowSeconds"),
        ({"windowSeconds": 10**9}, "input.windowSeconds"),
        ({"threshold": None}, "input.threshold"),
        ({"forSeconds": -1}, "input.forSeconds"),
        ({"cooldownSeconds": -5}, "input.cooldownSeconds"),
        ({"function": "PERCENTILE"}, "input.percentile"),
        ({"function": "AVG", "field": None}, "input.field"),
        ({"kind": "ANOMALY", "bucketSeconds": 200}, "input.bucketSeconds"),
        ({"bucketSeconds": 60}, "input.bucketSeconds"),
        ({"name": " "}, "input.name"),
        ({"name": "two\nlines"}, "input.name"),
        ({"channels": [{"kind": "WEBHOOK", "url": "http://[::1/x"}]}, "input.channels[0].url"),
        ({"channels": [{"kind": "WEBHOOK", "url": "http://a:99999/x"}]}, "input.channels[0].url"),
        ({"channels": [{"kind": "WEBHOOK", "url": "http://a b/x"}]}, "input.channels[0].url"),
        ({"category": "no spaces allowed"}, "input.category"),
        (
            {"channels": [{"kind": "WEBHOOK", "url": "ftp://example.org/x"}]},
            "input.channels[0].url",
        ),
        ({"channels": [{"kind": "WEBHOOK", "url": "file:///etc/passwd"}]}, "input.channels[0].url"),
        ({"channels": [{"kind": "WEBHOOK"}]}, "input.channels[0].url"),
        ({"channels": [{"kind": "EMAIL", "address": "nobody"}]}, "input.channels[0].address"),
        ({"secret": "short"}, "input.secret"),
    ],
)
async def test_bad_rule_input_is_refused(
    alert_app: MakeApp, change: dict[str, Any], field: str
) -> None:
    async with alert_app() as app:
        user = await app.member()
        body = await user.send(CREATE_RULE, input={**GOOD, **change})
        assert _bad_field(body) == field
        assert (await user.ok(RULES))["alertRules"] == []


async def test_private_networks_are_refused_by_setting(alert_app: MakeApp) -> None:
    async with alert_app(webhook_allow_private_networks=False) as app:
        user = await app.member()
        for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/x", "http://[::1]/x",
                    "http://169.254.169.254/latest/meta-data"):  # fmt: skip
            body = await user.send(
                CREATE_RULE, input={**GOOD, "channels": [{"kind": "WEBHOOK", "url": url}]}
            )
            assert _bad_field(body) == "input.channels[0].url"
            assert "private or reserved network" in body["errors"][0]["message"]
        assert (await user.ok(RULES))["alertRules"] == []


async def test_report_schedules_crud_and_bad_cron(alert_app: MakeApp) -> None:
    async with alert_app(smtp_host="127.0.0.1") as app:
        user = await app.member(Role.DEVELOPER)
        other = await app.member(Role.DEVELOPER)
        channel = [{"kind": "EMAIL", "address": "ops@example.org"}]
        good = {"name": "daily", "cron": "0 7 * * *", "query": QUERY, "channels": channel}
        for change, field in (
            ({"cron": "every day"}, "input.cron"),
            ({"cron": "61 * * * *"}, "input.cron"),
            ({"channels": []}, "input.channels"),
            ({"query": {"range": {"start": QUERY["range"]["end"], "end": QUERY["range"]["start"]}}},
             "query.range"),
        ):  # fmt: skip
            assert _bad_field(await user.send(CREATE_SCHEDULE, input={**good, **change})) == field
        created = (await user.ok(CREATE_SCHEDULE, input=good))["createReportSchedule"]
        assert created["schedule"]["cron"] == "0 7 * * *"
        assert created["schedule"]["nextRunAt"].endswith("07:00:00+00:00")
        schedule_id = created["schedule"]["id"]
        assert [s["id"] for s in (await user.ok(SCHEDULES))["reportSchedules"]] == [schedule_id]
        assert (await other.ok(SCHEDULES))["reportSchedules"] == []
        assert error_codes(await other.send(DELETE_SCHEDULE, id=schedule_id)) == ["NOT_FOUND"]
        assert (await user.ok(DELETE_SCHEDULE, id=schedule_id))[
            "deleteReportSchedule"
        ] == schedule_id


async def test_report_schedules_need_the_export_permission(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member(Role.USER)
        body = await user.send(SCHEDULES)
        assert error_codes(body) == ["FORBIDDEN"]


async def test_a_rule_over_everyone_stops_with_its_owners_admin_role(alert_app: MakeApp) -> None:
    """An admin's allUsers rule is evaluated while they hold analytics:admin, not after."""
    async with alert_app() as app:
        admin, busy = await app.member(Role.ADMIN), await app.member()
        agent = await busy.create_agent()
        created = await admin.count_rule(allUsers=True, agentId=str(agent))
        await busy.insert(agent, minutes_before(NOW, 1))
        async with app.stores.database.session() as session:
            row = await session.get(User, admin.id)
            assert row is not None
            row.roles = [Role.USER.value]
        await app.cycle(NOW)
        assert await admin.history(created["rule"]["id"]) == []
        async with app.stores.database.session() as session:
            row = await session.get(User, admin.id)
            assert row is not None
            row.roles = [Role.ADMIN.value]
        await app.cycle(NOW)
        assert [h["state"] for h in await admin.history(created["rule"]["id"])] == ["FIRING"]


async def test_gdpr_export_holds_rules_and_schedules_without_their_keys(
    alert_app: MakeApp,
) -> None:
    async with alert_app(smtp_host="127.0.0.1") as app:
        user = await app.member(Role.DEVELOPER)
        created = await user.create_rule(**GOOD)
        channel = [{"kind": "EMAIL", "address": "ops@example.org"}]
        schedule = {"name": "daily", "cron": "0 7 * * *", "query": QUERY, "channels": channel}
        await user.ok(CREATE_SCHEDULE, input=schedule)
        rows = (await user.ok("mutation { exportMyData { data } }"))["exportMyData"]["data"]
        assert [rule["id"] for rule in rows["alert_rules"]] == [created["rule"]["id"]]
        assert [entry["name"] for entry in rows["report_schedules"]] == ["daily"]
        exported = str(rows)
        assert created["signingKey"] not in exported
        assert "secret" not in rows["alert_rules"][0]


async def test_erasing_the_account_erases_its_rules_and_history(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        rule_id = uuid.UUID((await user.count_rule())["rule"]["id"])
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        assert len(await user.history(str(rule_id))) == 1
        erase = "mutation($p: String!) { deleteMyAccount(confirm: true, password: $p) }"
        await user.ok(erase, p=PASSWORD)
        async with app.stores.database.read() as session:
            rules = select(AlertRule).where(col(AlertRule.owner_id) == user.id)
            assert (await session.exec(rules)).all() == []
            history = select(AlertHistory).where(col(AlertHistory.rule_id) == rule_id)
            assert (await session.exec(history)).all() == []


async def test_a_user_has_at_most_20_report_schedules(alert_app: MakeApp) -> None:
    async with alert_app(smtp_host="127.0.0.1") as app:
        user = await app.member(Role.DEVELOPER)
        channel = [{"kind": "EMAIL", "address": "ops@example.org"}]
        schedule = {"name": "s", "cron": "0 7 * * *", "query": QUERY, "channels": channel}
        for _ in range(20):
            await user.ok(CREATE_SCHEDULE, input=schedule)
        assert _bad_field(await user.send(CREATE_SCHEDULE, input=schedule)) == "input"
        assert len((await user.ok(SCHEDULES))["reportSchedules"]) == 20

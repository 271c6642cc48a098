"""Webhook signing secrets at rest: sealed under the data key, bound to their row, read back
to sign, rotated by rotate-data-key; rows from before migration 0011 still sign."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from core.enums import Role
from db.crypto import Keyring
from db.migrate import upgrade_database
from db.models import AlertRule, ReportSchedule
from db.repositories.signing_keys import SigningKeyRows, open_secret
from db.session import Database
from tests.alerts.conftest import NOW, AlertApp, MakeApp, Member, Receiver, minutes_before
from tests.alerts.test_webhooks import _valid
from tests.consciousness.test_encryption import new_key
from tests.support import OLD_USER, insert_raw

SCHEDULE = """mutation($input: ReportScheduleInput!) {
  createReportSchedule(input: $input) { signingKey schedule { id } } }"""


async def stored_rule(app: AlertApp, rule_id: str) -> AlertRule:
    async with app.stores.database.session() as session:
        rule = await session.get(AlertRule, uuid.UUID(rule_id))
    assert rule is not None
    return rule


async def set_columns(app: AlertApp, rule_id: str, **values: object) -> None:
    """Write a rule's columns behind the API's back (a moved ciphertext, an old row)."""
    statement = update(AlertRule).where(col(AlertRule.id) == uuid.UUID(rule_id)).values(values)
    async with app.stores.database.session() as session:
        await session.exec(statement)


async def webhook_rules(
    app: AlertApp, receiver: Receiver, count: int = 1
) -> tuple[Member, uuid.UUID, list[dict[str, Any]]]:
    """A member, an agent, and `count` rules that fire on one row and call `receiver`."""
    user = await app.member()
    agent = await user.create_agent()
    hook = [{"kind": "WEBHOOK", "url": receiver.url}]
    return user, agent, [await user.count_rule(channels=hook) for _ in range(count)]


async def test_a_rules_secret_is_stored_sealed_and_still_signs(
    alert_app: MakeApp, receiver: Receiver
) -> None:
    async with alert_app() as app:
        user, agent, [created] = await webhook_rules(app, receiver)
        secret = created["signingKey"]
        rule = await stored_rule(app, created["rule"]["id"])
        keyring: Keyring = app.running.state.keyring
        assert secret.encode() not in bytes(rule.secret)
        assert rule.secret_key_id == keyring.current_id
        assert open_secret(keyring, rule) == secret
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        [(headers, body)] = receiver.received
        assert _valid(secret, headers, body)


async def test_a_report_schedules_secret_is_stored_sealed(alert_app: MakeApp) -> None:
    async with alert_app() as app:
        user = await app.member(Role.DEVELOPER)
        query = {"range": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}}
        channel = {"kind": "WEBHOOK", "url": "http://127.0.0.1:9/hook"}
        variables = {"name": "daily", "cron": "0 6 * * *", "query": query, "channels": [channel]}
        created = (await user.ok(SCHEDULE, input=variables))["createReportSchedule"]
        async with app.stores.database.session() as session:
            schedule = await session.get(ReportSchedule, uuid.UUID(created["schedule"]["id"]))
        assert schedule is not None
        assert created["signingKey"].encode() not in bytes(schedule.secret)
        assert open_secret(app.running.state.keyring, schedule) == created["signingKey"]


async def test_a_secret_moved_to_another_row_is_not_used_and_the_delivery_fails(
    alert_app: MakeApp, receiver: Receiver
) -> None:
    async with alert_app() as app:
        user, agent, created = await webhook_rules(app, receiver, 2)
        first, second = (c["rule"]["id"] for c in created)
        await set_columns(app, second, secret=(await stored_rule(app, first)).secret)
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        assert len(receiver.received) == 1  # the first rule's only
        [delivery] = await user.deliveries(second)
        assert (delivery["ok"], delivery["attempts"], delivery["statusCode"]) == (False, 0, None)


async def test_an_unsealed_secret_signs_until_rotation_seals_it(
    alert_app: MakeApp, receiver: Receiver
) -> None:
    """A rule written before migration 0011: its secret is UTF-8 bytes with no key id."""
    async with alert_app() as app:
        user, agent, [created] = await webhook_rules(app, receiver)
        rule_id = created["rule"]["id"]
        plain = "an old secret of thirty-two chars"
        await set_columns(app, rule_id, secret=plain.encode(), secret_key_id=None)
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        [(headers, body)] = receiver.received
        assert _valid(plain, headers, body)

        new_id, new = new_key("next")  # the old row needs no key to open
        keyring = Keyring(new_id, {new_id: new})
        rows = SigningKeyRows(AlertRule)
        async with app.stores.database.write_session() as session:
            assert await rows.count_to_rotate(session, keyring) == 1
            assert await rows.rotate_batch(session, keyring, 10) == 1
        async with app.stores.database.session() as session:
            assert await rows.count_to_rotate(session, keyring) == 0
        rule = await stored_rule(app, rule_id)
        assert rule.secret_key_id == "next"
        assert open_secret(keyring, rule) == plain


async def test_migration_0011_keeps_an_existing_secret_readable(empty_database: Database) -> None:
    database = empty_database
    await upgrade_database(database.engine, "0010")
    user_id, rule_id = uuid.uuid4(), uuid.uuid4()
    plain = "a secret from before 0011, 32 chars"
    async with database.session() as session:
        await insert_raw(
            session,
            [
                (OLD_USER, {"id": user_id}),
                (
                    "INSERT INTO alert_rules (id, owner_id, name, kind, function, comparator, "
                    "threshold, window_seconds, for_seconds, cooldown_seconds, all_users, "
                    "channels, secret, enabled, state, state_version, created_at, updated_at) "
                    "VALUES (:id, :owner, 'old', 'threshold', 'count', 'GE', 1, 300, 0, 0, "
                    "false, '[]', :secret, true, 'ok', 0, :now, :now)",
                    {"id": rule_id, "owner": user_id, "secret": plain},
                ),
            ],
        )
    await upgrade_database(database.engine)
    async with database.session() as session:
        rule = await session.get(AlertRule, rule_id)
    assert rule is not None
    assert rule.secret_key_id is None
    assert open_secret(Keyring("any", {"any": bytes(32)}), rule) == plain

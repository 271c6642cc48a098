"""Email to a local SMTP server (aiosmtpd): alerts, and scheduled reports with their attachment."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from datetime import datetime, timedelta

from core.enums import Role
from core.settings import SmtpSecurity
from tests.alerts.conftest import NOW, Mailbox, MakeApp, Receiver, minutes_before

CREATE_SCHEDULE = """
mutation($input: ReportScheduleInput!) {
  createReportSchedule(input: $input) { signingKey schedule { id nextRunAt } } }"""
SCHEDULES = "{ reportSchedules { id nextRunAt lastRunAt } }"


def _smtp(mailbox: Mailbox) -> dict[str, object]:
    return {"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_security": SmtpSecurity.NONE}


async def test_an_alert_is_emailed(alert_app: MakeApp, mailbox: Mailbox) -> None:
    async with alert_app(**_smtp(mailbox)) as app:
        user = await app.member()
        agent = await user.create_agent()
        created = await user.count_rule(
            name="busy agent", channels=[{"kind": "EMAIL", "address": "ops@example.org"}]
        )
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        [message] = mailbox.messages
        assert message["To"] == "ops@example.org"
        assert message["Subject"] == "[FIRING] busy agent"
        assert created["rule"]["id"] in message.get_content()
        [delivery] = await user.deliveries(created["rule"]["id"])
        assert (delivery["channel"], delivery["statusCode"], delivery["ok"]) == ("EMAIL", 250, True)


async def test_a_failed_email_is_logged_and_evaluation_goes_on(alert_app: MakeApp) -> None:
    async with alert_app(
        smtp_host="127.0.0.1", smtp_port=9, smtp_security=SmtpSecurity.NONE
    ) as app:
        user = await app.member()
        agent = await user.create_agent()
        created = await user.count_rule(channels=[{"kind": "EMAIL", "address": "ops@example.org"}])
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        await app.cycle(NOW + timedelta(minutes=10))
        states = [h["state"] for h in await user.history(created["rule"]["id"])]
        assert states == ["FIRING", "RESOLVED"]
        deliveries = await user.deliveries(created["rule"]["id"])
        assert [d["ok"] for d in deliveries] == [False, False]


async def test_a_scheduled_report_arrives_with_the_rows_of_its_query(
    alert_app: MakeApp, mailbox: Mailbox, receiver: Receiver
) -> None:
    async with alert_app(**_smtp(mailbox)) as app:
        user = await app.member(Role.DEVELOPER)
        agent = await user.create_agent()
        hour = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}  # its length
        created = (
            await user.ok(
                CREATE_SCHEDULE,
                input={
                    "name": "hourly",
                    "cron": "0 * * * *",
                    "query": {"range": hour},
                    "format": "CSV",
                    "channels": [
                        {"kind": "EMAIL", "address": "ops@example.org"},
                        {"kind": "WEBHOOK", "url": receiver.url},
                    ],
                },
            )
        )["createReportSchedule"]
        run_at = datetime.fromisoformat(created["schedule"]["nextRunAt"])
        rows = await user.insert(agent, minutes_before(run_at, 10, 20, 30))
        await user.insert(agent, minutes_before(run_at, 90))  # before the hour: not in it
        await app.cycle(run_at)
        await app.cycle(run_at)  # the same run is not sent twice
        [message] = mailbox.messages
        [attachment] = list(message.iter_attachments())
        content = attachment.get_content()
        data = content.encode() if isinstance(content, str) else content
        exported = list(csv.DictReader(io.StringIO(data.decode())))
        assert sorted(r["request_id"] for r in exported) == sorted(
            str(row["request_id"]) for row in rows
        )
        assert (attachment.get_filename() or "").endswith(".csv")
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "rowCount: 3" in text
        assert f"sha256: {hashlib.sha256(data).hexdigest()}" in text
        [(_, body)] = receiver.received
        report = json.loads(body)
        assert report["rowCount"] == 3
        assert (
            hashlib.sha256(base64.b64decode(report["contentBase64"])).hexdigest()
            == (report["sha256"])
        )
        [schedule] = (await user.ok(SCHEDULES))["reportSchedules"]
        assert datetime.fromisoformat(schedule["nextRunAt"]) == run_at + timedelta(hours=1)
        assert datetime.fromisoformat(schedule["lastRunAt"]) == run_at

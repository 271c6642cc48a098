"""Notification channels of alerts and reports: the broker, webhooks, email; each delivery logged.

An alert's event goes to its owner's broker topic (the `alerts` subscription) and to each of
the rule's channels. Channel deliveries run as tasks of their own, at most
MAX_CONCURRENT_DELIVERIES at a time, so a slow or dead receiver (retried with backoff by
outbound/webhooks.py) never holds up an evaluation cycle; every outcome, failures included,
becomes a row of alert_deliveries. A failure is logged and recorded, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from core.alerts import AlertEvent, ChannelKind
from db.crypto import DataKeyError, Keyring
from db.models import AlertDelivery, AlertRule, ReportSchedule
from db.repositories.signing_keys import SigningRow, open_secret
from db.stores import Stores
from outbound.email import Attachment, SmtpConfig, send_email
from outbound.webhooks import Delivery, WebhookSender
from resolvers.events import alerts_topic

log = logging.getLogger(__name__)

MAX_CONCURRENT_DELIVERIES = 8
CLOSE_TIMEOUT_SECONDS = 10.0


class Notifier:
    """Sends notifications (module docstring); `drain()` waits for those under way."""

    def __init__(
        self, stores: Stores, keyring: Keyring, webhooks: WebhookSender, smtp: SmtpConfig
    ) -> None:
        self._stores = stores
        self._keyring = keyring
        self._webhooks = webhooks
        self._smtp = smtp
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        self._tasks: set[asyncio.Task[None]] = set()

    async def notify_alert(self, rule: AlertRule, event: AlertEvent) -> None:
        """Publish the event to the owner's topic, and start a delivery per channel."""
        payload = event.to_payload()
        try:
            await self._stores.broker.publish(alerts_topic(rule.owner_id), payload)
        except Exception:  # the live channel failing must not stop the others
            log.exception("could not publish alert %s of rule %s", event.history_id, rule.id)
        body = orjson.dumps({"type": "alert", **payload})
        subject = f"[{event.state.name}] {rule.name}"
        text = (
            f"Alert rule {rule.name!r} is {event.state.name} (was {event.previous_state.name}) "
            f"at {event.at.isoformat()}.\nValue: {event.value}\nThreshold: {event.threshold}\n"
            f"Rule id: {rule.id}\n"
        )
        secret = self._secret(rule)
        for channel in rule.channels:
            self._start(rule.id, None, channel, secret, body, subject, text, ())

    def notify_report(
        self,
        schedule: ReportSchedule,
        summary: dict[str, Any],
        attachment: Attachment,
    ) -> None:
        """Start a delivery of a report to each of the schedule's channels."""
        body = orjson.dumps({"type": "report", **summary})
        subject = f"[report] {schedule.name}: {summary['rowCount']} rows"
        text = "".join(
            f"{name}: {value}\n" for name, value in summary.items() if name != "contentBase64"
        )
        secret = self._secret(schedule)
        for channel in schedule.channels:
            self._start(None, schedule.id, channel, secret, body, subject, text, (attachment,))

    def _secret(self, row: SigningRow) -> str | None:
        """The row's signing secret; None (webhooks not sent, logged) when it does not open."""
        try:
            return open_secret(self._keyring, row)
        except DataKeyError as exc:
            log.error("a webhook signing secret does not open: %s", exc)
            return None

    def _start(
        self,
        rule_id: uuid.UUID | None,
        schedule_id: uuid.UUID | None,
        channel: dict[str, Any],
        secret: str | None,
        body: bytes,
        subject: str,
        text: str,
        attachments: tuple[Attachment, ...],
    ) -> None:
        kind = ChannelKind(channel["kind"])
        send: Callable[[], Awaitable[Delivery]]
        if kind is ChannelKind.WEBHOOK:
            target = str(channel["url"])
            if secret is None:
                send = functools.partial(_not_sent, "its signing secret does not open")
            else:
                send = functools.partial(self._webhooks.send, target, secret, body)
        else:
            target = str(channel["address"])
            send = functools.partial(send_email, self._smtp, target, subject, text, attachments)
        task = asyncio.create_task(self._deliver(rule_id, schedule_id, kind, target, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        rule_id: uuid.UUID | None,
        schedule_id: uuid.UUID | None,
        kind: ChannelKind,
        target: str,
        send: Callable[[], Awaitable[Delivery]],
    ) -> None:
        try:
            async with self._slots:
                delivery = await send()
        except Exception as exc:  # outbound/ returns failures; this is a bug, still recorded
            log.exception("delivery to %s failed unexpectedly", kind)
            delivery = Delivery(ok=False, attempts=1, status_code=None, error=type(exc).__name__)
        if not delivery.ok:
            log.warning("%s delivery failed: %s", kind, delivery.error)
        row = AlertDelivery(
            rule_id=rule_id,
            schedule_id=schedule_id,
            channel=kind.value,
            target=target[:2048],
            attempts=delivery.attempts,
            status_code=delivery.status_code,
            ok=delivery.ok,
            error=(delivery.error or "")[:500] or None,
        )
        try:
            async with self._stores.database.session() as session:
                session.add(row)
        except Exception:
            log.exception("could not record a %s delivery (rule %s)", kind, rule_id)

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished and been recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Let deliveries under way finish (bounded), then stop the rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):  # not wait_for: see Stores.health
                await self.drain()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._webhooks.aclose()


async def _not_sent(reason: str) -> Delivery:
    """A webhook that could not be signed: recorded as a failed delivery, never sent."""
    return Delivery(ok=False, attempts=0, status_code=None, error=reason)

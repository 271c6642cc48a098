"""Webhook deliveries to a local receiver: a valid signature, retries on 500, no retry storm."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from outbound import webhooks
from outbound.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender
from tests.alerts.conftest import NOW, MakeApp, Receiver, minutes_before


def _valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver checks: HMAC-SHA256 of `<timestamp>.<body>` under the shared secret."""
    stamp = headers[TIMESTAMP_HEADER.lower()]
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], "sha256=" + expected.hexdigest())


async def test_firing_and_resolved_reach_the_webhook_signed(
    alert_app: MakeApp, receiver: Receiver
) -> None:
    async with alert_app() as app:
        user = await app.member()
        agent = await user.create_agent()
        created = await user.count_rule(2, channels=[{"kind": "WEBHOOK", "url": receiver.url}])
        secret, rule_id = created["signingKey"], created["rule"]["id"]
        await user.insert(agent, minutes_before(NOW, 1, 2))
        await app.cycle(NOW)
        await app.cycle(NOW + timedelta(minutes=10))
        assert len(receiver.received) == 2
        bodies = [json.loads(body) for _, body in receiver.received]
        assert [(b["type"], b["state"], b["rule_id"]) for b in bodies] == [
            ("alert", "FIRING", rule_id),
            ("alert", "RESOLVED", rule_id),
        ]
        assert bodies[0]["value"] == 2.0
        assert all(_valid(secret, headers, body) for headers, body in receiver.received)
        assert not _valid("another secret of 32 characters!", *receiver.received[0])
        deliveries = await user.deliveries(rule_id)
        assert [(d["channel"], d["statusCode"], d["ok"], d["attempts"]) for d in deliveries] == [
            ("WEBHOOK", 200, True, 1),
            ("WEBHOOK", 200, True, 1),
        ]


async def test_a_500_is_retried_and_the_delivery_logged(
    alert_app: MakeApp, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    async with alert_app(webhook_max_attempts=4) as app:
        user = await app.member()
        agent = await user.create_agent()
        created = await user.count_rule(channels=[{"kind": "WEBHOOK", "url": receiver.url}])
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        assert len(receiver.received) == 3  # 500, 503, then 200
        [delivery] = await user.deliveries(created["rule"]["id"])
        assert (delivery["ok"], delivery["statusCode"], delivery["attempts"]) == (True, 200, 3)


async def test_a_dead_receiver_gets_no_retry_storm(alert_app: MakeApp, receiver: Receiver) -> None:
    """Ten rules fire at a receiver that always answers 500: the first notification uses its
    four attempts, the other nine one each, and evaluation goes on regardless."""
    receiver.always = 500
    async with alert_app(webhook_max_attempts=4) as app:
        user = await app.member()
        agent = await user.create_agent()
        rules = [
            (await user.count_rule(channels=[{"kind": "WEBHOOK", "url": receiver.url}]))["rule"][
                "id"
            ]
            for _ in range(10)
        ]
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        assert len(receiver.received) == 4 + 9
        logged = [d for rule_id in rules for d in await user.deliveries(rule_id)]
        assert len(logged) == 10
        assert all(not d["ok"] and d["statusCode"] == 500 for d in logged)
        assert sum(d["attempts"] for d in logged) == len(receiver.received)
        for rule_id in rules:  # every rule's state was recorded despite the failures
            assert [h["state"] for h in await user.history(rule_id)] == ["FIRING"]


async def test_a_4xx_is_final(receiver: Receiver) -> None:
    receiver.always = 410
    sender = WebhookSender(
        timeout_seconds=5, max_attempts=4, backoff_seconds=0.01, allow_private=True
    )
    try:
        delivery = await sender.send(receiver.url, "s" * 32, b"{}")
    finally:
        await sender.aclose()
    assert (delivery.ok, delivery.attempts, delivery.status_code) == (False, 1, 410)
    assert len(receiver.received) == 1


async def test_an_unreachable_receiver_is_logged_without_a_status(alert_app: MakeApp) -> None:
    async with alert_app(webhook_max_attempts=2) as app:
        user = await app.member()
        agent = await user.create_agent()
        created = await user.count_rule(
            channels=[{"kind": "WEBHOOK", "url": "http://127.0.0.1:9/closed"}]
        )
        await user.insert(agent, minutes_before(NOW, 1))
        await app.cycle(NOW)
        [delivery] = await user.deliveries(created["rule"]["id"])
        assert (delivery["ok"], delivery["statusCode"], delivery["attempts"]) == (False, None, 2)


async def test_the_address_checked_is_the_address_called(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the host resolves to an outside address when the delivery checks it,
    and to loopback (where the receiver listens) afterwards. The outside address checked is
    the one called, so the local receiver never hears of it. The outside address is TEST-NET
    (192.0.2.1, never routed), counted as public here so that nothing real is called."""
    port = urlsplit(receiver.url).port
    resolved = iter(["192.0.2.1"])  # then loopback for every later look-up

    def rebinding(host: object, *_args: object, **_kwargs: object) -> list[Any]:
        address = next(resolved, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(webhooks, "_refused_address", lambda address: address == "127.0.0.1")
    url = f"http://rebind.example:{port}/hook"
    assert webhooks.pinned_target(url, allow_private=False).url == f"http://192.0.2.1:{port}/hook"
    resolved = iter(["192.0.2.1"])
    sender = WebhookSender(
        timeout_seconds=1, max_attempts=1, backoff_seconds=0, allow_private=False
    )
    try:
        delivery = await sender.send(url, "s" * 32, b"{}")
    finally:
        await sender.aclose()
    assert not delivery.ok
    assert receiver.received == []


async def test_a_pinned_delivery_keeps_the_urls_host(receiver: Receiver) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    sender = WebhookSender(timeout_seconds=5, max_attempts=1, backoff_seconds=0, allow_private=True)
    try:
        delivery = await sender.send(url, "s" * 32, b"{}")
    finally:
        await sender.aclose()
    assert delivery.ok
    [(headers, _body)] = receiver.received
    assert headers["host"] == urlsplit(url).netloc

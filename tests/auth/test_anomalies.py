"""Anomalies in authentication: audited, shown to admins, and answered with a block of the
address (failed sign-ins across usernames, a registration burst), or audited only (a token
used from a second address), on both store columns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.enums import Role
from core.settings import Settings
from server.app import create_app
from tests.apps import Running, running
from tests.conftest import empty_tables
from tests.support import (
    LOGIN,
    PASSWORD,
    bearer,
    create_member,
    graphql,
    login,
    only_error,
    register,
)

ANOMALIES = """{ auditLog(action: "auth_anomaly") {
    totalCount edges { node { userId ipAddress details } } } }"""
Address = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def app_at_addresses(
    settings: Settings, **overrides: object
) -> AsyncIterator[tuple[Running, Address]]:
    """The app with these settings, and `at(ip)`: a client whose requests come from `ip`."""
    async with running(create_app(settings.model_copy(update=overrides))) as app:
        clients: dict[str, httpx.AsyncClient] = {}

        def at(ip: str) -> httpx.AsyncClient:
            if ip not in clients:
                transport = httpx.ASGITransport(app=app.asgi, client=(ip, 40000))
                clients[ip] = httpx.AsyncClient(transport=transport, base_url="http://t")
            return clients[ip]

        try:
            yield app, at
        finally:
            for client in clients.values():
                await client.aclose()
            await empty_tables(app.state.stores)
            await app.state.rate_limiter.clear()


async def anomalies_seen_by_an_admin(app: Running, client: httpx.AsyncClient) -> list[Any]:
    name = await create_member(app.state.stores, Role.ADMIN)
    headers = bearer((await login(client, name))["accessToken"])
    body = await graphql(client, ANOMALIES, headers=headers)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["auditLog"]["edges"]]  # type: ignore[index]


async def failed_login(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    body = await graphql(client, LOGIN, {"username": username, "password": "wrong password!"})
    return only_error(body)


async def test_failed_sign_ins_for_many_usernames_block_the_address(settings: Settings) -> None:
    async with app_at_addresses(settings, auth_anomaly_failed_usernames=3) as (app, at):
        sprayer, bystander = at("203.0.113.7"), at("198.51.100.2")
        await register(bystander, "victim")
        for _ in range(3):  # one name again and again is the per-username throttle's business
            assert (await failed_login(sprayer, "victim"))["extensions"]["code"] == (
                "UNAUTHENTICATED"
            )
        for name in ("alice", "bob", "carol"):  # with "victim": four different names
            assert (await failed_login(sprayer, name))["extensions"]["code"] == "UNAUTHENTICATED"
        refused = only_error(
            await graphql(sprayer, LOGIN, {"username": "victim", "password": PASSWORD})
        )
        assert refused["extensions"]["code"] == "RATE_LIMITED"
        assert refused["extensions"]["limit"] == "AUTH_BLOCK_SECONDS"
        assert refused["extensions"]["retryAfter"] >= 1
        assert "blocked" in refused["message"]
        # register is refused from there too; another address signs in as before
        with_register = await graphql(
            sprayer,
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"username": "newcomer", "email": "n@example.org", "password": PASSWORD}},
        )
        assert only_error(with_register)["extensions"]["code"] == "RATE_LIMITED"
        assert (await login(bystander, "victim"))["accessToken"]
        [entry] = await anomalies_seen_by_an_admin(app, bystander)
        assert entry["ipAddress"] == "203.0.113.7"
        assert entry["details"]["kind"] == "failed_sign_ins_across_usernames"
        assert entry["details"]["last_username"] == "carol"
        assert entry["userId"] is None


async def test_a_burst_of_registrations_is_refused_and_blocks_the_address(
    settings: Settings,
) -> None:
    async with app_at_addresses(settings, auth_anomaly_registrations_per_minute=3) as (app, at):
        farm, someone = at("203.0.113.9"), at("198.51.100.3")
        for number in range(3):
            await register(farm, f"bot{number}")
        body = await graphql(
            farm,
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"username": "bot3", "email": "bot3@example.org", "password": PASSWORD}},
        )
        refused = only_error(body)
        assert refused["extensions"]["code"] == "RATE_LIMITED"
        assert refused["extensions"]["limit"] == "AUTH_BLOCK_SECONDS"
        blocked = await graphql(farm, LOGIN, {"username": "bot0", "password": PASSWORD})
        assert only_error(blocked)["extensions"]["code"] == "RATE_LIMITED"
        await register(someone, "human")
        [entry] = await anomalies_seen_by_an_admin(app, someone)
        assert entry["details"]["kind"] == "registration_burst"
        assert entry["ipAddress"] == "203.0.113.9"


async def test_a_token_used_from_a_second_address_soon_after_is_audited(
    settings: Settings,
) -> None:
    async with app_at_addresses(settings) as (app, at):
        home, elsewhere = at("192.0.2.10"), at("203.0.113.66")
        payload = await register(home, "traveller")
        headers = bearer(payload["accessToken"])
        for _ in range(2):
            assert "errors" not in await graphql(home, "{ me { id } }", headers=headers)
        assert await anomalies_seen_by_an_admin(app, home) == []
        # used from another address: answered (it may be the owner's phone), and audited
        assert "errors" not in await graphql(elsewhere, "{ me { id } }", headers=headers)
        entries = await anomalies_seen_by_an_admin(app, home)
        assert [entry["details"]["kind"] for entry in entries] == ["token_from_new_address"]
        assert entries[0]["userId"] == payload["user"]["id"]
        assert entries[0]["ipAddress"] == "203.0.113.66"
        assert entries[0]["details"]["previous_address"] == "192.0.2.10"


async def test_anomaly_watching_can_be_turned_off(settings: Settings) -> None:
    off = {"auth_anomaly_failed_usernames": 0, "auth_anomaly_token_ip_seconds": 0}
    async with app_at_addresses(settings, **off) as (app, at):  # as tests/conftest.py has it
        client = at("203.0.113.20")
        for number in range(12):
            assert (await failed_login(client, f"nobody{number}"))["extensions"]["code"] == (
                "UNAUTHENTICATED"
            )
        payload = await register(at("198.51.100.20"), "roamer")
        headers = bearer(payload["accessToken"])
        assert "errors" not in await graphql(client, "{ me { id } }", headers=headers)
        assert await anomalies_seen_by_an_admin(app, at("198.51.100.20")) == []

"""/api/v1/system, the 503 of a store that is down, the same data and log line as GraphQL."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from core.enums import Role
from db.allow_list import register_operations
from server.app import create_app
from tests.apps import AppClient, running
from tests.conftest import make_settings
from tests.rest.conftest import API, MakeUser, create_agent, problem_of
from tests.support import PASSWORD, graphql

PROFILE = "{ me { id username email roles tier permissions isActive createdAt lastLoginAt } }"
AGENT = """
query($id: UUID!) { agent(id: $id) {
  id name description agentType configuration consciousnessState status
  createdAt updatedAt lastActivity version owner { id username } } }
"""


async def test_health_needs_no_token_and_names_no_backend(client: httpx.AsyncClient) -> None:
    health = await client.get(f"{API}/system/health")
    assert health.status_code == 200
    assert health.json()["status"] == "OK"
    assert {store["name"] for store in health.json()["stores"]} >= {"database", "broker"}
    assert all("backend" not in store for store in health.json()["stores"])


async def test_status_details_are_for_administrators(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    problem_of(await client.get(f"{API}/system/status"), 401, "UNAUTHENTICATED")
    developer = await user("dev", Role.DEVELOPER)
    problem_of(await client.get(f"{API}/system/status", headers=developer), 403, "FORBIDDEN")
    admin = await user("root", Role.ADMIN)
    status = await client.get(f"{API}/system/status", headers=admin)
    assert status.status_code == 200, status.text
    assert status.json()["uptimeSeconds"] >= 0
    assert {store["backend"] for store in status.json()["stores"]}


async def test_rest_and_graphql_give_the_same_data(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    agent = await create_agent(client, ada)
    rest_profile = await client.get(f"{API}/auth/profile", headers=ada)
    graphql_profile = await graphql(client, PROFILE, headers=ada)
    assert rest_profile.json() == graphql_profile["data"]["me"]  # type: ignore[index]
    rest_agent = await client.get(f"{API}/agents/{agent['id']}", headers=ada)
    graphql_agent = await graphql(client, AGENT, {"id": agent["id"]}, headers=ada)
    assert rest_agent.json() == graphql_agent["data"]["agent"]  # type: ignore[index]


async def test_a_store_that_is_down_is_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0")
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            refused = await client.post(
                f"{API}/auth/login", json={"username": "ada", "password": PASSWORD}
            )
            health = await client.get(f"{API}/system/health")
    body = problem_of(refused, 503, "INTERNAL")
    assert "127.0.0.1" not in body["detail"]
    assert health.json()["status"] == "DEGRADED"


async def test_allow_list_mode_still_serves_the_rest_endpoints(
    app_with: AppClient, tmp_path: Path
) -> None:
    allow_list = tmp_path / "operations.json"
    register_operations(allow_list, ["{ __typename }"])
    async with app_with(persisted_operations_file=allow_list, persisted_operations_only=True) as (
        client,
        _stores,
    ):
        health = await client.get(f"{API}/system/health")
        sent = await graphql(client, "{ systemHealth { status } }")
    assert health.status_code == 200, health.text
    assert "PERSISTED_OPERATIONS_ONLY" in sent["errors"][0]["message"]  # type: ignore[index]


async def test_a_rest_call_is_logged_as_its_operation(
    client: httpx.AsyncClient, user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    ada = await user("ada")
    with caplog.at_level(logging.INFO, logger="consciousness.request"):
        await client.get(f"{API}/auth/profile", headers=ada)
        await client.get(f"{API}/agents/not-an-id", headers=ada)
    lines = [r.fields for r in caplog.records if r.name == "consciousness.request"]  # type: ignore[attr-defined]
    assert [(line["path"], line["operation"], line["outcome"]) for line in lines] == [
        (f"{API}/auth/profile", "RestProfile", "ok"),
        (f"{API}/agents/not-an-id", "RestGetAgent", "BAD_USER_INPUT"),
    ]
    assert all(line["user_id"] for line in lines)

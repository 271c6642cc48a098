"""The app end to end through ASGI: health, readiness, the system queries, error codes."""

from __future__ import annotations

import httpx
import pytest

from core.enums import Role
from db.stores import Stores
from server.app import create_app
from tests.apps import running
from tests.conftest import make_settings
from tests.support import bearer, create_member, graphql, login, only_error


async def test_health_is_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_every_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["failing"] == []
    assert set(body["stores"]) == {"database", "broker", "analytics", "vectors"}


async def admin_headers(client: httpx.AsyncClient, stores: Stores, role: Role) -> dict[str, str]:
    """A signed-in user with `role`, as request headers."""
    return bearer((await login(client, await create_member(stores, role)))["accessToken"])


async def test_system_health_reports_each_store(
    client: httpx.AsyncClient, stores: Stores, settings: object
) -> None:
    query = "{ systemHealth { status stores { name backend ok latencyMs } } }"
    body = await graphql(client, query, headers=await admin_headers(client, stores, Role.ADMIN))
    health = body["data"]["systemHealth"]  # type: ignore[index]
    assert health["status"] == "OK"
    backends = {store["name"]: store["backend"] for store in health["stores"]}
    expected_database = "postgresql" if getattr(settings, "database_url", "") else "sqlite"
    assert backends == {
        "database": expected_database,
        "broker": "redis" if getattr(settings, "redis_url", "") else "memory",
        "analytics": "chdb",
        "vectors": "qdrant-local",
    }
    assert all(store["ok"] and store["latencyMs"] >= 0 for store in health["stores"])


async def test_system_status_has_version_and_uptime(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    query = "{ systemStatus { version environment pythonVersion uptimeSeconds startedAt } }"
    body = await graphql(client, query, headers=await admin_headers(client, stores, Role.ADMIN))
    status = body["data"]["systemStatus"]  # type: ignore[index]
    assert status["version"] == "0.1.0"
    assert status["environment"] == "development"
    assert status["pythonVersion"].count(".") == 2
    assert status["uptimeSeconds"] >= 0


@pytest.mark.parametrize(
    "field",
    [
        "systemStatus { version }",
        "systemStatus { environment }",
        "systemStatus { pythonVersion }",
        "systemStatus { stores { ok } }",
        "systemHealth { stores { backend } }",
    ],
)
async def test_the_server_details_are_for_admins_only(
    client: httpx.AsyncClient, stores: Stores, field: str
) -> None:
    user = await admin_headers(client, stores, Role.USER)
    for headers in ({}, user):
        error = only_error(await graphql(client, "{ " + field + " }", headers=headers))
        assert error["extensions"]["code"] in {"FORBIDDEN", "UNAUTHENTICATED"}
        if headers:
            assert "system:read" in error["message"]
    public = (
        "{ systemStatus { uptimeSeconds startedAt } systemHealth { status stores { name ok } } }"
    )
    for headers in ({}, user):
        assert "errors" not in await graphql(client, public, headers=headers)


@pytest.mark.parametrize(
    "query",
    ["{ systemHealth { ", "{ noSuchField }", "{ systemHealth { status(arg: 1) } }"],
    ids=["syntax", "unknown-field", "unknown-argument"],
)
async def test_malformed_queries_are_bad_user_input(client: httpx.AsyncClient, query: str) -> None:
    body = await graphql(client, query)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    assert {error["extensions"]["code"] for error in errors} == {"BAD_USER_INPUT"}


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health", headers={"x-request-id": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] != "bad id\twith spaces"
    assert len(generated.headers["x-request-id"]) == 32


async def test_broken_json_body_is_a_client_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_ready_names_the_store_that_is_down(tmp_path: object) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/ready")
            body = await graphql(client, "{ systemHealth { status stores { name ok error } } }")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    health = body["data"]["systemHealth"]  # type: ignore[index]
    assert health["status"] == "DEGRADED"
    broker = next(store for store in health["stores"] if store["name"] == "broker")
    assert broker["ok"] is False
    assert "127.0.0.1" not in (broker["error"] or "")


async def test_system_metrics_are_for_administrators_and_name_this_process(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    query = (
        "{ systemMetrics { memoryMb databasePool { size idle checkedOut }"
        " analyticsWriter { insertedRows } } }"
    )
    user = await admin_headers(client, stores, Role.USER)
    assert only_error(await graphql(client, query, headers=user))["extensions"]["code"] == (
        "FORBIDDEN"
    )
    admin = await admin_headers(client, stores, Role.ADMIN)
    metrics = (await graphql(client, query, headers=admin))["data"]["systemMetrics"]  # type: ignore[index]
    assert metrics["memoryMb"] > 0
    assert metrics["analyticsWriter"]["insertedRows"] >= 0
    usage = stores.database.pool_usage()
    if usage is None:
        assert metrics["databasePool"] is None  # SQLite has no pool
    else:
        assert metrics["databasePool"]["size"] == usage.size

"""The app end to end through ASGI: health, readiness, the system queries, error codes."""

from __future__ import annotations

import httpx
import pytest

from server.app import create_app
from tests.apps import running
from tests.conftest import make_settings
from tests.support import graphql


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


async def test_system_health_reports_each_store(
    client: httpx.AsyncClient, settings: object
) -> None:
    body = await graphql(client, "{ systemHealth { status stores { name backend ok latencyMs } } }")
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


async def test_system_status_has_version_and_uptime(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ systemStatus { version environment uptimeSeconds startedAt } }")
    status = body["data"]["systemStatus"]  # type: ignore[index]
    assert status["version"] == "0.1.0"
    assert status["environment"] == "development"
    assert status["uptimeSeconds"] >= 0


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

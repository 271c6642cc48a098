"""GDPR: a user exports everything about them, and erasing the account leaves nothing of
them in any store (relational tables, analytics, tokens, rate-limit counters)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import SQLModel

from db.analytics_migrations import AGENT_STATS_TABLE, METRICS_TABLE
from db.stores import Stores
from db.tokens import InProcessTokenStore
from tests.apps import Running
from tests.support import PASSWORD, bearer, error_codes, graphql, login, register

CREATE = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { id version } }"
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { status } }"
PROCESS = "mutation($i: ProcessInput!) { process(input: $i) { requestId } }"
EXPORT = "mutation { exportMyData { generatedAt data metrics { url format expiresAt } } }"
DELETE = """mutation($confirm: Boolean!, $password: String!) {
  deleteMyAccount(confirm: $confirm, password: $password) }"""
ME = "{ me { id username } }"
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }"


async def ok(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    body = await graphql(client, query, variables, bearer(token))
    assert "errors" not in body, body
    return body["data"]


async def a_user_with_history(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """A user with an agent (two versions), a processed session and metrics, two sign-ins,
    an ingestion key."""
    registered = await register(client, name)
    token = (await login(client, name))["accessToken"]
    agent = (await ok(client, CREATE, token, i={"name": f"{name}-agent", "agentType": "GENERAL"}))[
        "createAgent"
    ]
    await ok(client, ACTIVATE, token, id=agent["id"])
    await ok(client, PROCESS, token, i={"agentId": agent["id"], "input": "I like clear skies."})
    await ok(client, 'mutation { createApiKey(name: "collector") { key } }', token)
    return {
        "id": registered["user"]["id"],
        "username": name,
        "email": f"{name}@example.org",
        "token": token,
        "refresh": registered["refreshToken"],
        "agent": agent["id"],
    }


async def rows_mentioning(stores: Stores, *needles: str) -> list[str]:
    """Every row of every relational table whose text mentions one of the needles."""
    found = []
    async with stores.database.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.exec(select(table))).all():
                text = json.dumps([str(value) for value in row])
                if any(needle in text for needle in needles):
                    found.append(f"{table.name}: {text[:200]}")
    return found


async def metrics_count(stores: Stores, column: str, value: str) -> int:
    assert column in ("user_id", "agent_id")
    rows = await stores.analytics.query_rows(
        f"SELECT count() FROM {METRICS_TABLE} WHERE {column} = {{id:UUID}}",
        {"id": value},
    )
    return int(rows[0][0])


async def kept_entries(app: Running, *needles: str) -> list[str]:
    """Keys and values of the token, broker and rate-limit stores that mention a needle."""
    state = app.state
    stores: Stores = state.stores
    found = []
    if isinstance(stores.tokens, InProcessTokenStore):
        maps: list[tuple[str, Any]] = [
            (name, getattr(entries, "_entries", entries))
            for name, entries in vars(stores.tokens).items()
        ]
        maps += [(name, value) for name, value in vars(stores.broker).items()]
        maps += [(name, value) for name, value in vars(state.rate_limiter._storage).items()]
        for name, entries in maps:
            if not isinstance(entries, dict):
                continue
            for key, value in entries.items():
                text = f"{name}:{key}={value}"
                if any(needle in text for needle in needles):
                    found.append(text)
        return found
    assert stores.redis is not None
    async for key in stores.redis.scan_iter(count=1000):
        kind = await stores.redis.type(key)
        value = await stores.redis.get(key) if kind == b"string" else b""
        text = f"{key!r}={value!r}"
        if any(needle in text for needle in needles):
            found.append(text)
    return found


async def test_export_my_data_holds_every_row_of_the_caller(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    ada = await a_user_with_history(client, "ada_export")
    await a_user_with_history(client, "bob_export")
    data = (await ok(client, EXPORT, ada["token"]))["exportMyData"]
    rows = data["data"]
    assert rows["user"]["id"] == ada["id"]
    assert "password_hash" not in rows["user"]
    assert [key["name"] for key in rows["api_keys"]] == ["collector"]
    assert "key_hash" not in rows["api_keys"][0]
    assert [agent["id"] for agent in rows["agents"]] == [ada["agent"]]
    assert len(rows["agent_versions"]) >= 2  # created, activated
    assert [s["user_id"] for s in rows["consciousness_sessions"]] == [ada["id"]]
    assert {entry["action"] for entry in rows["audit_log"]} >= {"register", "login"}
    assert all(entry["user_id"] == ada["id"] for entry in rows["audit_log"])
    assert "bob_export" not in json.dumps(rows)
    # the metrics: a short-lived download, for this user only
    download = await client.get(data["metrics"]["url"], headers=bearer(ada["token"]))
    assert download.status_code == 200
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert len(lines) == 1
    assert lines[0]["user_id"] == ada["id"]
    bob_token = (await login(client, "bob_export"))["accessToken"]
    assert (await client.get(data["metrics"]["url"], headers=bearer(bob_token))).status_code == 404


async def test_delete_my_account_needs_confirmation_and_the_password(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    eve = await a_user_with_history(client, "eve_keeps")
    body = await graphql(
        client, DELETE, {"confirm": False, "password": PASSWORD}, bearer(eve["token"])
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "confirm"  # type: ignore[index]
    body = await graphql(
        client, DELETE, {"confirm": True, "password": "wrong"}, bearer(eve["token"])
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "password"  # type: ignore[index]
    assert error_codes(await graphql(client, DELETE, {"confirm": True, "password": PASSWORD})) == [
        "UNAUTHENTICATED"
    ]
    # nothing changed
    assert (await ok(client, ME, eve["token"]))["me"]["id"] == eve["id"]
    if stores.metrics_writer is not None:
        await stores.metrics_writer.flush()
    assert await metrics_count(stores, "user_id", eve["id"]) == 1
    assert await rows_mentioning(stores, eve["id"])


async def test_erasure_leaves_no_row_of_the_user_anywhere(
    app: Running, client: httpx.AsyncClient, stores: Stores
) -> None:
    erin = await a_user_with_history(client, "erin_erased")
    keep = await a_user_with_history(client, "kim_kept")
    needles = (erin["id"], erin["username"], erin["email"])
    assert await rows_mentioning(stores, *needles)
    if stores.metrics_writer is not None:
        await stores.metrics_writer.flush()
    assert await metrics_count(stores, "user_id", erin["id"]) == 1
    assert await kept_entries(app, erin["id"])  # refresh tokens, events, rate-limit counts

    data = await ok(client, DELETE, erin["token"], confirm=True, password=PASSWORD)
    assert data == {"deleteMyAccount": True}

    # PostgreSQL / SQLite: no row of any table mentions the user
    assert await rows_mentioning(stores, *needles) == []
    # analytics: neither the user's rows nor their agent's
    assert await metrics_count(stores, "user_id", erin["id"]) == 0
    assert await metrics_count(stores, "agent_id", erin["agent"]) == 0
    # tokens and counters: only the revocation cutoff remains, until access tokens expire
    left = await kept_entries(app, erin["id"])
    assert all("user-cutoff" in entry or "_user_cutoffs" in entry for entry in left), left
    # the access token and the refresh token are dead
    assert error_codes(await graphql(client, ME, headers=bearer(erin["token"]))) == [
        "UNAUTHENTICATED"
    ]
    assert error_codes(await graphql(client, REFRESH, {"t": erin["refresh"]})) == [
        "UNAUTHENTICATED"
    ]
    body = await graphql(
        client,
        "mutation L($u: String!, $p: String!) { login(username: $u, password: $p) { expiresIn } }",
        {"u": erin["username"], "p": PASSWORD},
    )
    assert error_codes(body) == ["UNAUTHENTICATED"]
    # the other user is untouched
    assert (await ok(client, ME, keep["token"]))["me"]["id"] == keep["id"]
    assert await metrics_count(stores, "user_id", keep["id"]) == 1
    assert await rows_mentioning(stores, keep["id"])
    # the username is free again
    assert uuid.UUID((await register(client, erin["username"]))["user"]["id"]) != uuid.UUID(
        erin["id"]
    )


async def test_erasure_leaves_no_agent_stats_of_the_user_or_their_agents(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    """agent_daily_stats adds up the metrics rows: erasing those erases their sums too."""
    erin = await a_user_with_history(client, "erin_summed")
    if stores.metrics_writer is not None:
        await stores.metrics_writer.flush()

    async def stats_rows() -> int:
        rows = await stores.analytics.query_rows(
            f"SELECT count() FROM {AGENT_STATS_TABLE} WHERE user_id = {{u:UUID}} "
            "OR agent_id = {a:UUID}",
            {"u": erin["id"], "a": erin["agent"]},
        )
        return int(rows[0][0])

    assert await stats_rows() == 1
    await ok(client, DELETE, erin["token"], confirm=True, password=PASSWORD)
    assert await stats_rows() == 0

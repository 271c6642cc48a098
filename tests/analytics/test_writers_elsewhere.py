"""BACKGROUND_WRITERS=false: a process that takes traffic stages metrics rows and sessions to
embed, and other processes write them, on PostgreSQL + Redis.

Two apps in this process stand for two processes: they share the database, and chDB and
Qdrant's local mode as they would share ClickHouse and Qdrant servers (one client per path
in a process: db/vectors.py). The database is the test's own, so the shared app's writers
never take its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from db import metrics_outbox, vector_queue
from db.session import Database
from db.stores import Stores
from server.app import create_app
from server.startup import prepare_stores
from tests.analytics.test_writer import FlakySink
from tests.apps import Running, running
from tests.conftest import ADMIN_DATABASE_URL, _recreate_database, make_settings
from tests.consciousness.conftest import ACTIVATE, PROCESS, process_input
from tests.support import bearer, graphql, register, wait_until

CREATE = 'mutation { createAgent(input: {name: "w", agentType: GENERAL}) { id } }'
SIMILAR = """query($a: UUID!, $t: String!) {
  similarSessions(agentId: $a, text: $t) { edges { node { session { input } } } }
}"""
TEXTS = ["Plan a quiet weekend by the sea.", "List the risks of the release slipping again."]


@pytest.fixture
async def split_settings(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    """Settings on a PostgreSQL database of this test's own, migrated; writers off."""
    name = f"consciousness_writers_{uuid.uuid4().hex[:12]}"
    await _recreate_database(ADMIN_DATABASE_URL, name, create=True)
    settings = make_settings(
        tmp_path / "data",
        database_url=ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}",
        redis_url=redis_url,
        redis_key_prefix=f"test:{uuid.uuid4().hex[:8]}:",
        background_writers=False,
    )
    await prepare_stores(settings)
    yield settings
    await _recreate_database(ADMIN_DATABASE_URL, name, create=False)


async def backlog(database: Database) -> tuple[int, int]:
    """(metrics rows in the outbox, sessions waiting to be embedded)."""
    return await metrics_outbox.count_staged(database), await vector_queue.count_waiting(database)


async def stored_rows(stores: Stores, agent_id: str) -> int:
    rows = await stores.analytics.query_rows(
        "SELECT count() FROM consciousness_metrics WHERE agent_id = {a:UUID}", {"a": agent_id}
    )
    return int(rows[0][0])


class Owner:
    """A user of the app that takes traffic, with an active agent."""

    def __init__(self, client: httpx.AsyncClient, token: str, agent_id: str) -> None:
        self.client, self.headers, self.agent_id = client, bearer(token), agent_id

    @classmethod
    async def sign_up(cls, client: httpx.AsyncClient) -> Owner:
        token = (await register(client, f"w{uuid.uuid4().hex[:10]}"))["accessToken"]
        created = await graphql(client, CREATE, headers=bearer(token))
        agent_id = created["data"]["createAgent"]["id"]  # type: ignore[index]
        await graphql(client, ACTIVATE, {"id": agent_id}, headers=bearer(token))
        return cls(client, token, agent_id)

    async def ok(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = await graphql(self.client, query, variables, headers=self.headers)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def process(self, text: str) -> None:
        await self.ok(PROCESS, {"input": process_input(self.agent_id, text)})


def client_of(app: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app.asgi), base_url="http://t")


@asynccontextmanager
async def both_roles(
    settings: Settings,
) -> AsyncIterator[tuple[Running, Running, httpx.AsyncClient]]:
    """An app that only stages (`settings`), one that writes, and a client of the first."""
    writing = settings.model_copy(update={"background_writers": True})
    async with (
        running(create_app(settings)) as api,
        running(create_app(writing)) as writer,
        client_of(api) as client,
    ):
        yield api, writer, client


async def test_a_process_without_writers_stages_and_others_write(split_settings: Settings) -> None:
    async with running(create_app(split_settings)) as api, client_of(api) as client:
        owner = await Owner.sign_up(client)
        for text in TEXTS:
            await owner.process(text)
        stores = api.state.stores
        assert stores.metrics_writer is not None
        assert stores.vector_writer is not None
        assert not stores.metrics_writer.running
        assert not stores.vector_writer.running
        stats = stores.metrics_writer.stats()
        assert (stats.staged_rows, stats.pending_rows, stats.inserted_rows) == (2, 0, 0)
        database = stores.database
    # Nothing was drained by the process, nor on its way out.
    assert await backlog(database) == (2, 2)

    async with both_roles(split_settings) as (api, writer, client):
        database = api.state.stores.database
        # The writer takes what it finds on its timer: nobody tells it rows were staged.
        await wait_until(lambda: _empty(database), "the other process drains", within=15)
        assert await stored_rows(api.state.stores, owner.agent_id) == 2
        owner.client = client
        found = await owner.ok(SIMILAR, {"a": owner.agent_id, "t": "a weekend by the sea"})
        inputs = {edge["node"]["session"]["input"] for edge in found["similarSessions"]["edges"]}
        assert inputs == set(TEXTS)

        await owner.process("One more session, staged while both processes run.")
        await wait_until(lambda: _empty(database), "the new row is drained", within=15)
        assert await stored_rows(api.state.stores, owner.agent_id) == 3
        assert api.state.stores.metrics_writer.stats().inserted_rows == 0  # type: ignore[union-attr]
        assert writer.state.stores.metrics_writer.stats().inserted_rows == 3  # type: ignore[union-attr]


async def _empty(database: Database) -> bool:
    return await backlog(database) == (0, 0)


async def test_a_writer_that_cannot_drain_reports_the_rows_others_staged(
    split_settings: Settings,
) -> None:
    """After a failed drain the writing process reports the outbox's rows as pending, though
    it staged none of them: the backlog alert needs one process that knows the backlog."""
    async with both_roles(split_settings) as (api, writer_app, client):
        writer = writer_app.state.stores.metrics_writer
        assert writer is not None
        assert writer.running
        sink = FlakySink(writer_app.state.stores.analytics)
        sink.down = True
        writer._sink = sink  # ClickHouse goes away before the writer's first drain (2 s)
        owner = await Owner.sign_up(client)
        for text in TEXTS:
            await owner.process(text)

        await wait_until(
            lambda: writer.stats().pending_rows == 2, "a failed drain counts", within=15
        )
        assert writer.stats().staged_rows == 0
        assert writer.stats().insert_failures >= 1
        assert api.state.stores.metrics_writer.stats().pending_rows == 0  # type: ignore[union-attr]

        sink.down = False
        await wait_until(lambda: writer.stats().pending_rows == 0, "the retry drains", within=15)
        assert await stored_rows(api.state.stores, owner.agent_id) == 2

"""Fixtures and helpers for the agent tests: signed-in users, agents and sessions in the store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from core.enums import AgentType
from db.models import Agent, AgentVersion, ConsciousnessSession
from db.repositories.session_texts import SessionTexts, seal_texts
from db.stores import Stores
from db.types import utcnow
from tests.apps import Running
from tests.auth.conftest import SignIn, sign_in
from tests.support import bearer, graphql

__all__ = ["SignIn", "sign_in"]

AGENT_FIELDS = """
  id name description agentType configuration consciousnessState status
  createdAt updatedAt lastActivity version owner { id username }
"""
CREATE = f"""
mutation Create($input: CreateAgentInput!) {{ createAgent(input: $input) {{ {AGENT_FIELDS} }} }}
"""
GET = f"query Get($id: UUID!) {{ agent(id: $id) {{ {AGENT_FIELDS} }} }}"
UPDATE = f"""
mutation Update($id: UUID!, $input: UpdateAgentInput!, $v: Int!) {{
  updateAgent(id: $id, input: $input, expectedVersion: $v) {{ {AGENT_FIELDS} }}
}}
"""
DELETE = """
mutation Delete($id: UUID!, $confirm: Boolean!) { deleteAgent(id: $id, confirm: $confirm) { id } }
"""
VERSIONS = """
query Versions($id: UUID!, $first: Int! = 50, $before: Int) {
  agentVersions(id: $id, first: $first, beforeVersion: $before) {
    version name description agentType configuration status changes changedBy createdAt
  }
}
"""


class Caller:
    """A signed-in user who sends GraphQL operations with their access token."""

    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
        self.client = client
        self.headers = bearer(tokens["accessToken"])
        self.user_id = uuid.UUID(tokens["user"]["id"])
        self.username: str = tokens["user"]["username"]

    async def send(self, query: str, **variables: object) -> dict[str, Any]:
        return await graphql(self.client, query, variables, headers=self.headers)

    async def ok(self, query: str, **variables: object) -> dict[str, Any]:
        """The `data` of an operation that must succeed."""
        body = await self.send(query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create(self, name: str, **fields: object) -> dict[str, Any]:
        data = await self.ok(CREATE, input={"name": name, "agentType": "GENERAL", **fields})
        agent: dict[str, Any] = data["createAgent"]
        return agent


MakeCaller = Callable[..., Awaitable[Caller]]


@pytest.fixture
def caller(client: httpx.AsyncClient, sign_in: SignIn) -> MakeCaller:
    async def make(username: str, *args: Any) -> Caller:
        return Caller(client, await sign_in(username, *args))

    return make


async def insert_agents(
    stores: Stores,
    owner_id: uuid.UUID,
    count: int,
    *,
    prefix: str = "agent",
    created_at: datetime | None = None,
    **fields: Any,
) -> list[Agent]:
    """`count` agents straight into the store, created a second apart (oldest first)."""
    start = created_at or utcnow() - timedelta(days=1)
    rows = [
        Agent(
            owner_id=owner_id,
            name=f"{prefix}-{index:03d}",
            agent_type=AgentType.GENERAL.value,
            created_at=start + timedelta(seconds=index),
            updated_at=start + timedelta(seconds=index),
            **fields,
        )
        for index in range(count)
    ]
    async with stores.database.session() as session:
        session.add_all(rows)
    return rows


async def insert_sessions(
    app: Running,
    agent_id: uuid.UUID,
    user_id: uuid.UUID,
    times_ms: list[float],
    *,
    start: datetime | None = None,
) -> list[ConsciousnessSession]:
    """One session per processing time, a minute apart (oldest first), with varied scores;
    its texts sealed with the app's keyring."""
    start = start or utcnow() - timedelta(hours=1)

    def sealed(session_id: uuid.UUID) -> dict[str, Any]:
        texts = SessionTexts(input_text="hello", response_text=None, context={})
        return vars(seal_texts(app.state.keyring, session_id, texts))

    ids = [uuid.uuid4() for _ in times_ms]
    rows = [
        ConsciousnessSession(
            id=session_id,
            request_id=uuid.uuid4(),
            agent_id=agent_id,
            user_id=user_id,
            **sealed(session_id),
            awareness_level=(index % 10) / 10,
            ethical_score=1 - (index % 4) / 8,
            confidence=0.5,
            processing_time_ms=time_ms,
            blocked=index % 7 == 0,
            created_at=start + timedelta(minutes=index),
        )
        for index, (session_id, time_ms) in enumerate(zip(ids, times_ms, strict=True))
    ]
    async with app.state.stores.database.session() as session:
        session.add_all(rows)
    return rows


async def count_rows(stores: Stores, model: type[Any], agent_id: str | uuid.UUID) -> int:
    column = Agent.id if model is Agent else model.agent_id
    async with stores.database.session() as session:
        query = (
            select(func.count()).select_from(model).where(col(column) == uuid.UUID(str(agent_id)))
        )
        return int((await session.exec(query)).one())


async def version_count(stores: Stores, agent_id: str) -> int:
    return await count_rows(stores, AgentVersion, agent_id)

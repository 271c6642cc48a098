"""Fixtures of the alerting tests: an app of the column whose evaluator the test drives, users,
metrics rows made in Python, and a local webhook receiver.

The app's own evaluation loop is off (ALERTS_ENABLED=false): each test calls
`run_cycle(now)` with the time it chose, over rows it inserted at known times.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import SQLModel
from starlette.requests import Request
from starlette.responses import Response

from core.enums import Role
from core.settings import Settings
from db.analytics import ColumnRow
from db.stores import Stores
from resolvers.alert_evaluator import AlertEvaluator
from server.app import create_app
from tests.analytics.conftest import make_row
from tests.apps import Running, running, uvicorn_serving
from tests.servers import free_port
from tests.support import bearer, create_member, graphql, login

# A whole hour two days ago: inside the table TTL, far from what other tests write now, and
# aligned to every bucket the anomaly tests use.
NOW = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)

CREATE_RULE = """
mutation($input: AlertRuleInput!) {
  createAlertRule(input: $input) { signingKey rule { id state threshold } }
}"""
HISTORY = """
query($id: UUID!) { alertHistory(ruleId: $id) { state previousState value notified } }"""
DELIVERIES = """
query($id: UUID!) { alertDeliveries(ruleId: $id) { channel target attempts statusCode ok } }"""


class Member:
    """A signed-in user of the test app, with their own metrics rows."""

    def __init__(self, app: AlertApp, tokens: dict[str, Any]) -> None:
        self.app = app
        self.headers = bearer(tokens["accessToken"])
        self.token: str = tokens["accessToken"]
        self.id = uuid.UUID(tokens["user"]["id"])

    async def send(self, query: str, **variables: object) -> dict[str, Any]:
        return await graphql(self.app.client, query, variables, headers=self.headers)

    async def ok(self, query: str, **variables: object) -> dict[str, Any]:
        body = await self.send(query, **variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create_rule(self, **rule: Any) -> dict[str, Any]:
        data = await self.ok(CREATE_RULE, input={"name": "rule", **rule})
        created: dict[str, Any] = data["createAlertRule"]
        return created

    async def count_rule(self, at_least: int = 1, **rule: Any) -> dict[str, Any]:
        """A rule that fires while the 5-minute window holds `at_least` of the user's rows."""
        return await self.create_rule(
            function="COUNT", comparator="GE", threshold=at_least, windowSeconds=300, **rule
        )

    async def create_agent(self) -> uuid.UUID:
        data = await self.ok(
            "mutation($n: String!) { createAgent(input: {name: $n, agentType: GENERAL}) { id } }",
            n=f"agent-{uuid.uuid4().hex[:8]}",
        )
        return uuid.UUID(data["createAgent"]["id"])

    async def history(self, rule_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.ok(HISTORY, id=rule_id))["alertHistory"]
        return entries[::-1]  # oldest first

    async def deliveries(self, rule_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.ok(DELIVERIES, id=rule_id))["alertDeliveries"]
        return found

    async def insert(
        self, agent_id: uuid.UUID, at: list[datetime], **values: Any
    ) -> list[ColumnRow]:
        """One metrics row per time, for this user and `agent_id`."""
        rows: list[ColumnRow] = [
            make_row(self.id, agent_id, index, at=moment, **values)
            for index, moment in enumerate(at)
        ]
        self.app.metric_users.add(self.id)
        await self.app.stores.analytics.insert_metrics(rows, uuid.uuid4().hex)
        return rows


@dataclass
class AlertApp:
    running: Running
    client: httpx.AsyncClient
    url: str = ""  # uvicorn's address, when served over real sockets
    metric_users: set[uuid.UUID] = field(default_factory=set)

    @property
    def stores(self) -> Stores:
        return self.running.state.stores

    @property
    def evaluator(self) -> AlertEvaluator:
        assert self.running.state.alerts is not None
        return self.running.state.alerts

    async def cycle(self, now: datetime) -> None:
        """One evaluation cycle at `now`, its deliveries finished."""
        await self.evaluator.run_cycle(now)
        await self.evaluator.notifier.drain()

    async def member(self, role: Role = Role.USER) -> Member:
        name = await create_member(self.stores, role)
        return Member(self, await login(self.client, name))


MakeApp = Callable[..., AbstractAsyncContextManager[AlertApp]]


@pytest.fixture
def alert_app(settings: Settings) -> MakeApp:
    """`async with alert_app(**overrides) as app`: tables and its users' rows emptied after;
    `served=True` also serves it with uvicorn on a free port (`app.url`)."""

    @asynccontextmanager
    async def make(served: bool = False, **overrides: Any) -> AsyncIterator[AlertApp]:
        values = {
            "alerts_enabled": False,
            "webhook_allow_private_networks": True,
            "webhook_backoff_seconds": 0.01,
            **overrides,
        }
        async with running(create_app(settings.model_copy(update=values))) as started:
            transport = httpx.ASGITransport(app=started.asgi)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://t") as client,
                uvicorn_serving(started.asgi) if served else contextlib.nullcontext("") as url,
            ):
                app = AlertApp(started, client, url)
                try:
                    yield app
                finally:
                    for user_id in app.metric_users:
                        await app.stores.analytics.delete_metrics(user_id=user_id)
                    async with app.stores.database.session() as session:
                        for table in reversed(SQLModel.metadata.sorted_tables):
                            await session.exec(table.delete())
                    await started.state.rate_limiter.clear()

    return make


@dataclass
class Receiver:
    """A local HTTP endpoint that records what it is sent and answers the next status."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in order; then 200
    always: int | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        self.received.append((dict(request.headers), body))
        status = self.always or (self.statuses.pop(0) if self.statuses else 200)
        await Response(status_code=status)(scope, receive, send)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    async with uvicorn_serving(hook) as url:
        hook.url = url + "/hook"
        yield hook


@dataclass
class Mailbox:
    """What a local aiosmtpd server received: each message parsed."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    """A local SMTP server (aiosmtpd, in its own thread) that keeps what it is sent."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    await asyncio.to_thread(controller.start)
    try:
        yield box
    finally:
        await asyncio.to_thread(controller.stop)


def minutes_before(now: datetime, *minutes: float) -> list[datetime]:
    return [now - timedelta(minutes=m) for m in minutes]

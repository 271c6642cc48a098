"""Helpers shared by the tests."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Uuid, bindparam, text
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.passwords import hash_password
from core.enums import Role, Tier
from db.repositories.users import create_user
from db.stores import Stores
from db.types import UTCDateTime, utcnow

POLL_SECONDS = 0.01


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = 5.0
) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s: {what}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass(eq=False)
class FakeTimer:
    when: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A core.clock.Clock that moves only by `advance` (or `sleep`), firing the timers due.

    Wall time starts at the current whole second, so tokens look ordinary and `exp - iat`
    is exactly their lifetime; timers run inside `advance`, in the order they fall due.
    """

    def __init__(self) -> None:
        self._time = float(int(time.time()))
        self._monotonic = 0.0
        self._timers: list[FakeTimer] = []

    def time(self) -> float:
        return self._time

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self._timers.append(timer)
        return timer

    def pending(self) -> int:
        """How many timers are set and not cancelled."""
        return sum(not timer.cancelled for timer in self._timers)

    def advance(self, seconds: float) -> None:
        self._time += seconds
        self._monotonic += seconds
        due = sorted((t for t in self._timers if t.when <= self._time), key=lambda t: t.when)
        self._timers = [t for t in self._timers if t.when > self._time and not t.cancelled]
        for timer in due:
            if not timer.cancelled:
                timer.callback()


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    """POST a GraphQL operation and return the decoded body (asserting HTTP 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a failed operation; its data must be null."""
    assert body.get("data") is None, body
    errors = body["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


def error_codes(body: dict[str, object]) -> list[str]:
    """The `extensions.code` of every error in a GraphQL response body."""
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    accessToken refreshToken tokenType expiresIn user { id username roles tier }
  }
}
"""
LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    accessToken refreshToken user { id username roles }
  }
}
"""
PASSWORD = "correct horse battery staple"


async def register(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    """Register `username` through GraphQL and return the AuthPayload."""
    body = await graphql(
        client,
        REGISTER,
        {"input": {"username": username, "email": f"{username}@example.org", "password": PASSWORD}},
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["register"]  # type: ignore[index]
    return payload


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    body = await graphql(client, LOGIN, {"username": username, "password": password})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]  # type: ignore[index]
    return payload


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


async def create_member(stores: Stores, role: Role = Role.USER, tier: Tier = Tier.BASIC) -> str:
    """A new user with `role` and PASSWORD, written straight to the store; their username."""
    name = f"{role.value.lower()}{uuid.uuid4().hex[:8]}"
    async with stores.database.session() as session:
        await create_user(
            session,
            username=name,
            email=f"{name}@example.org",
            password_hash=_password_hash(),
            roles=[role],
            tier=tier,
        )
    return name


OLD_USER = (
    "INSERT INTO users (id, username, email, password_hash, roles, tier, is_active, "
    "created_at, updated_at) VALUES (:id, 'old', 'old@example.org', 'x', '[]', "
    "'basic', true, :now, :now)"
)


async def insert_raw(session: AsyncSession, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Raw INSERTs into a database left at an old migration (the ORM models know only the
    newest schema): UUID values bound as UUIDs, `:now` as the current UTC time."""
    for statement, values in rows:
        names = [bindparam(n, type_=Uuid()) for n, v in values.items() if isinstance(v, uuid.UUID)]
        if ":now" in statement:
            names.append(bindparam("now", type_=UTCDateTime()))
        bound = text(statement).bindparams(*names)
        await session.exec(bound, params={**values, "now": utcnow()})  # type: ignore[call-overload]


def process_alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting for whoever adopted it to reap it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

"""Fixtures for the REST tests: signed-in users as bearer headers, agents made over REST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from core.enums import Role
from tests.analytics.conftest import metrics
from tests.apps import app_with
from tests.auth.conftest import SignIn, sign_in
from tests.support import bearer

__all__ = ["SignIn", "app_with", "metrics", "sign_in"]

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"
Headers = dict[str, str]
MakeUser = Callable[..., Awaitable[Headers]]


@pytest.fixture
def user(sign_in: SignIn) -> MakeUser:
    """`await user("ada", Role.DEVELOPER)`: the bearer header of a new signed-in user."""

    async def make(username: str, role: Role = Role.USER) -> Headers:
        return bearer((await sign_in(username, role))["accessToken"])

    return make


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 body of a refused request, checked for its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["requestId"] == response.headers["x-request-id"]
    return body


async def create_agent(
    client: httpx.AsyncClient, headers: Headers, name: str = "scout", *, active: bool = False
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/agents", json={"name": name, "agentType": "ANALYTICAL"}, headers=headers
    )
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()
    if active:
        activated = await client.post(f"{API}/agents/{agent['id']}/activate", headers=headers)
        assert activated.status_code == 200, activated.text
        agent = activated.json()
    return agent

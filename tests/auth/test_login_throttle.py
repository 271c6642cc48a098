"""Failed sign-ins are throttled per username and per client IP; success is not counted."""

from __future__ import annotations

import httpx

from auth.ratelimit import LOGIN_ATTEMPTS_PER_IP, LOGIN_ATTEMPTS_PER_USERNAME
from tests.support import PASSWORD, error_codes, graphql, login, register

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }"


async def _attempt(client: httpx.AsyncClient, username: str, password: str) -> dict[str, object]:
    return await graphql(client, LOGIN, {"u": username, "p": password})


async def test_username_is_throttled_after_its_limit(client: httpx.AsyncClient) -> None:
    await register(client, "target")
    for _ in range(LOGIN_ATTEMPTS_PER_USERNAME.amount):
        assert error_codes(await _attempt(client, "target", "wrong guess!!")) == ["UNAUTHENTICATED"]
    refused = await _attempt(client, "target", PASSWORD)  # even the right password waits
    assert error_codes(refused) == ["RATE_LIMITED"]
    assert refused["errors"][0]["extensions"]["retryAfter"] >= 1  # type: ignore[index]
    # Another user from the same address is not affected by this username's limit.
    await register(client, "bystander")
    assert "errors" not in await _attempt(client, "bystander", PASSWORD)


async def test_client_ip_is_throttled_across_usernames(client: httpx.AsyncClient) -> None:
    per_username = LOGIN_ATTEMPTS_PER_USERNAME.amount
    names = [f"guess{n}" for n in range(LOGIN_ATTEMPTS_PER_IP.amount // per_username + 1)]
    attempts = 0
    for name in names:
        for _ in range(per_username):
            if attempts == LOGIN_ATTEMPTS_PER_IP.amount:
                break
            assert error_codes(await _attempt(client, name, "wrong guess!!")) == ["UNAUTHENTICATED"]
            attempts += 1
    assert error_codes(await _attempt(client, "fresh_name", "wrong guess!!")) == ["RATE_LIMITED"]


async def test_successful_logins_are_not_counted(client: httpx.AsyncClient) -> None:
    await register(client, "regular")
    for _ in range(LOGIN_ATTEMPTS_PER_USERNAME.amount + 2):
        await login(client, "regular")

"""Register, login, refresh rotation, logout and `me` through GraphQL, on both store columns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlmodel import col, func, select

from core.enums import Role
from core.settings import Settings
from db.models import AuditLog, User
from db.stores import Stores
from server.app import create_app
from server.startup import prepare_stores
from tests.apps import AppClient, running
from tests.auth.conftest import SignIn
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.support import (
    PASSWORD,
    REGISTER,
    bearer,
    error_codes,
    graphql,
    login,
    register,
)

ME = "{ me { id username roles tier permissions isActive } }"
REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken }
}
"""
LOGOUT = "mutation Logout($token: String!) { logout(refreshToken: $token) }"


async def _count(stores: Stores, model: type[Any], **where: object) -> int:
    async with stores.database.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(col(getattr(model, name)) == value)
        return int((await session.exec(query)).one())


async def test_register_signs_in_and_me_answers(client: httpx.AsyncClient) -> None:
    payload = await register(client, "Grace")
    assert payload["tokenType"] == "Bearer"
    assert payload["expiresIn"] == 900
    assert payload["user"]["username"] == "grace"
    assert payload["user"]["roles"] == ["USER"]
    assert payload["user"]["tier"] == "BASIC"
    body = await graphql(client, ME, headers=bearer(payload["accessToken"]))
    me = body["data"]["me"]  # type: ignore[index]
    assert me["username"] == "grace"
    assert "agents:write" in me["permissions"]
    assert "users:manage" not in me["permissions"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "no spaces"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"username": "longenoughname", "password": "longenoughname"}, "password"),
    ],
)
async def test_register_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient, stores: Stores, change: dict[str, str], field: str
) -> None:
    data = {"username": "valid_name", "email": "v@example.org", "password": PASSWORD, **change}
    body = await graphql(client, REGISTER, {"input": data})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field  # type: ignore[index]
    assert await _count(stores, User) == 0


async def test_register_twice_is_a_conflict(client: httpx.AsyncClient, stores: Stores) -> None:
    await register(client, "dup")
    data = {"username": "DUP", "email": "other@example.org", "password": PASSWORD}
    body = await graphql(client, REGISTER, {"input": data})
    assert error_codes(body) == ["CONFLICT"]
    assert await _count(stores, User) == 1


async def test_login_failure_is_unauthenticated_and_audited(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    await register(client, "ada")
    wrong = await graphql(
        client,
        'mutation { login(username: "ada", password: "wrong password!") { accessToken } }',
    )
    unknown = await graphql(
        client,
        'mutation { login(username: "nobody", password: "wrong password!") { accessToken } }',
    )
    assert error_codes(wrong) == error_codes(unknown) == ["UNAUTHENTICATED"]
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]  # type: ignore[index]
    assert await _count(stores, AuditLog, action="login_failed") == 2
    assert await _count(stores, AuditLog, action="register") == 1


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    first = await register(client, "rotator")
    second = (await graphql(client, REFRESH, {"token": first["refreshToken"]}))["data"]
    rotated = second["refreshToken"]["refreshToken"]  # type: ignore[index]
    assert rotated != first["refreshToken"]

    reused = await graphql(client, REFRESH, {"token": first["refreshToken"]})
    assert error_codes(reused) == ["UNAUTHENTICATED"]
    assert "reuse" in reused["errors"][0]["message"]  # type: ignore[index]
    # The thief's rotated token dies with the family.
    after_theft = await graphql(client, REFRESH, {"token": rotated})
    assert error_codes(after_theft) == ["UNAUTHENTICATED"]
    assert await _count(stores, AuditLog, action="refresh_reuse_detected") == 1
    # So do the access tokens the family was issued, the thief's included.
    for access in (first["accessToken"], second["refreshToken"]["accessToken"]):  # type: ignore[index]
        answer = await graphql(client, ME, headers=bearer(access))
        assert error_codes(answer) == ["UNAUTHENTICATED"]
        assert "revoked" in answer["errors"][0]["message"]  # type: ignore[index]
    other = await login(client, "rotator")  # another sign-in of the same user is unaffected
    assert "errors" not in await graphql(client, ME, headers=bearer(other["accessToken"]))


async def test_logout_revokes_refresh_and_access_tokens(client: httpx.AsyncClient) -> None:
    tokens = await register(client, "leaver")
    headers = bearer(tokens["accessToken"])
    body = await graphql(client, LOGOUT, {"token": tokens["refreshToken"]}, headers=headers)
    assert body == {"data": {"logout": True}}
    assert error_codes(await graphql(client, ME, headers=headers)) == ["UNAUTHENTICATED"]
    refreshed = await graphql(client, REFRESH, {"token": tokens["refreshToken"]})
    assert error_codes(refreshed) == ["UNAUTHENTICATED"]
    # Another sign-in of the same user is untouched.
    other = await login(client, "leaver")
    assert "errors" not in await graphql(client, ME, headers=bearer(other["accessToken"]))


def _forge(claims: dict[str, Any], secret: str, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


async def test_rejected_tokens(client: httpx.AsyncClient, settings: Settings) -> None:
    tokens = await register(client, "victim")
    good = tokens["accessToken"]
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    _, payload_b64, _ = good.split(".")
    none_header = jwt.utils.base64url_encode(
        b'{"alg":"none","typ":"JWT","kid":"%s"}' % kid.encode()
    )
    cases = {
        "alg none": f"{none_header.decode()}.{payload_b64}.",
        "forged signature": _forge(claims, "f" * 48, kid=kid),
        "unknown key": _forge(claims, "g" * 48, kid="0000000000000000"),
        "expired": _forge({**claims, "exp": int(time.time()) - 5}, TEST_JWT_SECRET, kid=kid),
        "not a jwt": "abc.def",
        "wrong type": _forge({**claims, "typ": "refresh"}, TEST_JWT_SECRET, kid=kid),
    }
    for name, token in cases.items():
        body = await graphql(client, ME, headers=bearer(token))
        assert error_codes(body) == ["UNAUTHENTICATED"], name
    malformed_header = await graphql(client, ME, headers={"Authorization": good})
    assert error_codes(malformed_header) == ["UNAUTHENTICATED"]
    assert "errors" not in await graphql(client, ME, headers=bearer(good))


async def test_deactivated_users_tokens_and_logins_are_refused(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in("boss", Role.ADMIN)
    user = await register(client, "leaving")
    mutation = "mutation($id: UUID!) { deactivateUser(userId: $id) { isActive } }"
    body = await graphql(
        client, mutation, {"id": user["user"]["id"]}, headers=bearer(admin["accessToken"])
    )
    assert body == {"data": {"deactivateUser": {"isActive": False}}}
    assert error_codes(await graphql(client, ME, headers=bearer(user["accessToken"]))) == [
        "UNAUTHENTICATED"
    ]
    refreshed = await graphql(client, REFRESH, {"token": user["refreshToken"]})
    assert error_codes(refreshed) == ["UNAUTHENTICATED"]
    relogin = await graphql(
        client,
        f'mutation {{ login(username: "leaving", password: "{PASSWORD}") {{ accessToken }} }}',
    )
    assert error_codes(relogin) == ["UNAUTHENTICATED"]


async def test_anonymous_me_is_unauthenticated(client: httpx.AsyncClient) -> None:
    assert error_codes(await graphql(client, ME)) == ["UNAUTHENTICATED"]


async def test_registration_can_be_closed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, registration_enabled=False)
    await prepare_stores(settings)
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            data = {"username": "closed", "email": "c@example.org", "password": PASSWORD}
            body = await graphql(client, REGISTER, {"input": data})
    assert error_codes(body) == ["FORBIDDEN"]
    assert "registration is closed" in body["errors"][0]["message"]  # type: ignore[index]


async def test_me_answers_from_the_token_unless_the_account_row_is_asked_for(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    from sqlalchemy import event

    payload = await register(client, "Ada")
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "metrics_outbox" not in statement:  # the analytics writer's own polls
            statements.append(statement)

    engine = stores.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        claims_only = "{ me { __typename id username roles tier permissions } }"
        body = await graphql(client, claims_only, headers=bearer(payload["accessToken"]))
        assert body["data"]["me"]["username"] == "ada"  # type: ignore[index]
        assert statements == []
        with_row = """{ me { id ...Account } }
            fragment Account on User { ... on User { email isActive createdAt lastLoginAt } }"""
        body = await graphql(client, with_row, headers=bearer(payload["accessToken"]))
        me = body["data"]["me"]  # type: ignore[index]
        assert me["email"] == "ada@example.org"
        assert me["isActive"] is True
        assert me["createdAt"]
        assert "lastLoginAt" in me
        assert len(statements) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("length", [257, 5000, 100_000])
async def test_an_overlong_password_at_login_is_bad_input(
    client: httpx.AsyncClient, length: int
) -> None:
    await register(client, f"long{length}")
    body = await graphql(
        client,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
        {"u": f"long{length}", "p": "x" * length},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    error = body["errors"][0]  # type: ignore[index]
    assert error["extensions"]["field"] == "password"
    assert "at most 256" in error["message"]


def _registration(username: str) -> dict[str, str]:
    return {"username": username, "email": f"{username}@example.org", "password": PASSWORD}


async def test_registrations_are_limited_per_address(app_with: AppClient) -> None:
    async with app_with(registrations_per_ip_per_hour=3) as (client, _stores):
        for n in range(3):
            await register(client, f"crowd{n}")
        taken = await graphql(client, REGISTER, {"input": _registration("crowd0")})
        assert error_codes(taken) == ["RATE_LIMITED"]  # the limit answers before the name
        body = await graphql(client, REGISTER, {"input": _registration("crowd9")})
        assert error_codes(body) == ["RATE_LIMITED"]
        assert "REGISTRATIONS_PER_IP_PER_HOUR" in body["errors"][0]["message"]  # type: ignore[index]
        assert body["errors"][0]["extensions"]["retryAfter"] >= 1  # type: ignore[index]

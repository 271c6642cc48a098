"""Each role's allowed and denied operations; who may grant privileged roles; audit reads."""

from __future__ import annotations

import httpx
import pytest

from core.enums import Role
from tests.auth.conftest import SignIn
from tests.support import bearer, error_codes, graphql, register

USERS = "{ users(first: 10) { totalCount edges { node { username roles } } } }"
AUDIT = "{ auditLog(first: 10) { totalCount edges { node { action userId } } } }"
SET_ROLES = """
mutation($id: UUID!, $roles: [Role!]!) { updateUserRoles(userId: $id, roles: $roles) { roles } }
"""
SET_TIER = "mutation($id: UUID!, $tier: Tier!) { setUserTier(userId: $id, tier: $tier) { tier } }"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.USER, False),
        (Role.DEVELOPER, False),
        (Role.RESEARCHER, False),
        (Role.ADMIN, True),
        (Role.SUPER_ADMIN, True),
    ],
)
async def test_only_admins_list_users_and_read_the_audit_log(
    client: httpx.AsyncClient, sign_in: SignIn, role: Role, allowed: bool
) -> None:
    tokens = await sign_in("someone", role)
    for query in (USERS, AUDIT):
        body = await graphql(client, query, headers=bearer(tokens["accessToken"]))
        if allowed:
            assert "errors" not in body, body
        else:
            assert error_codes(body) == ["FORBIDDEN"]
            assert body["data"] is None


async def test_admin_operations_need_a_token(client: httpx.AsyncClient) -> None:
    for query in (USERS, AUDIT):
        assert error_codes(await graphql(client, query)) == ["UNAUTHENTICATED"]


async def test_admin_grants_ordinary_roles_but_not_admin(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    admin = await sign_in("admin", Role.ADMIN)
    target = await register(client, "target")
    headers = bearer(admin["accessToken"])
    variables = {"id": target["user"]["id"], "roles": ["DEVELOPER", "RESEARCHER"]}
    body = await graphql(client, SET_ROLES, variables, headers=headers)
    assert body == {"data": {"updateUserRoles": {"roles": ["DEVELOPER", "RESEARCHER"]}}}

    promote = await graphql(client, SET_ROLES, {**variables, "roles": ["ADMIN"]}, headers=headers)
    assert error_codes(promote) == ["FORBIDDEN"]
    empty = await graphql(client, SET_ROLES, {**variables, "roles": []}, headers=headers)
    assert error_codes(empty) == ["BAD_USER_INPUT"]


async def test_super_admin_grants_admin_and_old_tokens_lose_old_roles(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    root = await sign_in("root", Role.SUPER_ADMIN)
    target = await register(client, "rising")
    variables = {"id": target["user"]["id"], "roles": ["ADMIN"]}
    body = await graphql(client, SET_ROLES, variables, headers=bearer(root["accessToken"]))
    assert body == {"data": {"updateUserRoles": {"roles": ["ADMIN"]}}}
    # The token issued before the change is cut off; a refresh carries the new role.
    stale = await graphql(client, USERS, headers=bearer(target["accessToken"]))
    assert error_codes(stale) == ["UNAUTHENTICATED"]
    refreshed = await graphql(
        client,
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken user { roles } } }",
        {"t": target["refreshToken"]},
    )
    payload = refreshed["data"]["refreshToken"]  # type: ignore[index]
    assert payload["user"]["roles"] == ["ADMIN"]
    listed = await graphql(client, USERS, headers=bearer(payload["accessToken"]))
    assert listed["data"]["users"]["totalCount"] == 2  # type: ignore[index]


async def test_admin_cannot_touch_another_admin(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    admin = await sign_in("admin1", Role.ADMIN)
    other = await sign_in("admin2", Role.ADMIN)
    headers = bearer(admin["accessToken"])
    other_id = other["user"]["id"]
    tier = await graphql(client, SET_TIER, {"id": other_id, "tier": "ENTERPRISE"}, headers=headers)
    assert error_codes(tier) == ["FORBIDDEN"]
    demote = await graphql(client, SET_ROLES, {"id": other_id, "roles": ["USER"]}, headers=headers)
    assert error_codes(demote) == ["FORBIDDEN"]
    deactivate = await graphql(
        client,
        "mutation($id: UUID!) { deactivateUser(userId: $id) { isActive } }",
        {"id": other_id},
        headers=headers,
    )
    assert error_codes(deactivate) == ["FORBIDDEN"]


async def test_set_tier_and_unknown_user(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    admin = await sign_in("tieradmin", Role.ADMIN)
    target = await register(client, "payer")
    headers = bearer(admin["accessToken"])
    body = await graphql(
        client, SET_TIER, {"id": target["user"]["id"], "tier": "ENTERPRISE"}, headers=headers
    )
    assert body == {"data": {"setUserTier": {"tier": "ENTERPRISE"}}}
    missing = await graphql(
        client,
        SET_TIER,
        {"id": "00000000-0000-0000-0000-000000000000", "tier": "BASIC"},
        headers=headers,
    )
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_audit_log_filters_and_pages(client: httpx.AsyncClient, sign_in: SignIn) -> None:
    admin = await sign_in("auditor", Role.ADMIN)
    for name in ("user1", "user2", "user3"):
        await register(client, name)
    headers = bearer(admin["accessToken"])
    query = """
    query($after: String) {
      auditLog(action: "register", first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { action ipAddress } }
      }
    }"""
    first = (await graphql(client, query, headers=headers))["data"]["auditLog"]  # type: ignore[index]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    second_body = await graphql(
        client, query, {"after": first["pageInfo"]["endCursor"]}, headers=headers
    )
    second = second_body["data"]["auditLog"]  # type: ignore[index]
    assert len(second["edges"]) == 1
    assert second["pageInfo"]["hasNextPage"] is False
    assert {edge["node"]["action"] for edge in first["edges"] + second["edges"]} == {"register"}
    tampered = first["pageInfo"]["endCursor"][:-2] + "AA"
    bad = await graphql(client, query, {"after": tampered}, headers=headers)
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    unknown = await graphql(client, '{ auditLog(action: "nope") { totalCount } }', headers=headers)
    assert error_codes(unknown) == ["BAD_USER_INPUT"]

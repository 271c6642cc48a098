"""`me` reads the account once per access token; every change it shows still reaches it."""

from __future__ import annotations

import httpx
import pytest

from core.enums import Role
from db.stores import Stores
from tests.agents.test_agent_sessions import counting_statements
from tests.auth.conftest import SignIn
from tests.support import bearer, error_codes, graphql, login

ME = "{ me { id username tier isActive lastLoginAt } }"
SET_TIER = "mutation($id: UUID!) { setUserTier(userId: $id, tier: ENTERPRISE) { tier } }"


async def _me(client: httpx.AsyncClient, token: str) -> dict[str, object]:
    return await graphql(client, ME, headers=bearer(token))


async def test_me_again_with_the_same_token_reads_no_database(
    client: httpx.AsyncClient, stores: Stores, sign_in: SignIn
) -> None:
    token = (await sign_in("ada"))["accessToken"]
    with counting_statements(stores) as (statements, _):
        first = await _me(client, token)
    assert len(statements) == 1
    with counting_statements(stores) as (statements, _):
        again = await _me(client, token)
    assert statements == []
    assert again == first


async def test_a_changed_account_is_never_answered_from_the_cache(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    ada = await sign_in("ada")
    admin = await sign_in("root", Role.ADMIN)
    before = await _me(client, ada["accessToken"])
    assert before["data"]["me"]["tier"] == "BASIC"  # type: ignore[index]
    user_id = before["data"]["me"]["id"]  # type: ignore[index]
    changed = await graphql(client, SET_TIER, {"id": user_id}, headers=bearer(admin["accessToken"]))
    assert "errors" not in changed, changed
    # The change cut the old token off: it is refused, not answered from the cache.
    assert error_codes(await _me(client, ada["accessToken"])) == ["UNAUTHENTICATED"]
    fresh = await login(client, "ada")
    after = await _me(client, fresh["accessToken"])
    assert after["data"]["me"]["tier"] == "ENTERPRISE"  # type: ignore[index]


async def test_a_sign_in_moves_the_sign_in_time_for_older_tokens_too(
    client: httpx.AsyncClient, sign_in: SignIn
) -> None:
    first = (await sign_in("ada"))["accessToken"]
    before = (await _me(client, first))["data"]["me"]["lastLoginAt"]  # type: ignore[index]
    await login(client, "ada")
    after = (await _me(client, first))["data"]["me"]["lastLoginAt"]  # type: ignore[index]
    assert after > before


@pytest.mark.parametrize(
    ("query", "reads"),
    [
        ("{ me { id username roles tier permissions } }", False),
        ("{ me { id email } }", True),
        ("{ me { ... on User { createdAt } } }", True),
        ("{ me { ...Account } } fragment Account on User { isActive }", True),
        ("{ me { id lastLoginAt @skip(if: true) } }", False),
    ],
)
async def test_me_reads_the_account_only_for_a_field_that_needs_it(
    client: httpx.AsyncClient, stores: Stores, sign_in: SignIn, query: str, reads: bool
) -> None:
    token = (await sign_in("ada"))["accessToken"]
    with counting_statements(stores) as (statements, _):
        body = await graphql(client, query, headers=bearer(token))
    assert "errors" not in body, body
    assert len(statements) == (1 if reads else 0)

"""Fixtures for authentication tests: users with a given role, signed in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from auth.passwords import hash_password
from core.enums import Role, Tier
from db.repositories.users import create_user
from db.stores import Stores
from tests.apps import app_with as app_with
from tests.support import PASSWORD, login

SignIn = Callable[..., Awaitable[dict[str, Any]]]
_PASSWORD_HASH = hash_password(PASSWORD)


@pytest.fixture
def sign_in(client: httpx.AsyncClient, stores: Stores) -> SignIn:
    """Create a user with `role` and `tier` directly in the store, then log in over GraphQL."""

    async def make(
        username: str, role: Role = Role.USER, tier: Tier = Tier.BASIC
    ) -> dict[str, Any]:
        async with stores.database.session() as session:
            await create_user(
                session,
                username=username,
                email=f"{username}@example.org",
                password_hash=_PASSWORD_HASH,
                roles=[role],
                tier=tier,
            )
        return await login(client, username)

    return make

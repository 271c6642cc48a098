"""Argon2 hashing, the password policy, and hashes upgraded on login when parameters change."""

from __future__ import annotations

import httpx
import pytest
from passlib.hash import argon2
from sqlmodel import select

from auth.passwords import PasswordPolicyError, check_policy, hash_password, verify_password
from core.enums import Role, Tier
from db.models import User
from db.repositories.users import create_user
from db.stores import Stores
from tests.support import PASSWORD, login


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert verify_password(PASSWORD, hashed) == (True, None)
    assert verify_password("wrong password", hashed)[0] is False


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 10"), ("x" * 300, "at most 256"), ("Username01", "must not equal")],
)
def test_policy(password: str, message: str) -> None:
    with pytest.raises(PasswordPolicyError, match=message):
        check_policy(password, username="username01")


async def test_login_upgrades_a_hash_with_old_parameters(
    client: httpx.AsyncClient, stores: Stores
) -> None:
    old_hash = argon2.using(memory_cost=65536, rounds=3, parallelism=4).hash(PASSWORD)
    async with stores.database.session() as session:
        await create_user(
            session,
            username="legacy",
            email="legacy@example.org",
            password_hash=old_hash,
            roles=[Role.USER],
            tier=Tier.BASIC,
        )
    await login(client, "legacy")
    async with stores.database.session() as session:
        user = (await session.exec(select(User))).one()
    assert user.password_hash != old_hash
    assert "$m=19456,t=2,p=1$" in user.password_hash
    await login(client, "legacy")  # the new hash verifies too

"""createApiKey, apiKeys and revokeApiKey: a key is shown once, stored hashed, audited."""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from auth.api_keys import api_key_hash
from db.models import ApiKey, AuditLog
from db.stores import Stores
from tests.conftest import TEST_JWT_SECRET
from tests.ingest.conftest import CREATE_KEY, LIST_KEYS, REVOKE_KEY, MakeCaller, make_key
from tests.support import error_codes


async def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(
    caller: MakeCaller, stores: Stores
) -> None:
    ada = await caller("ada")
    created = await make_key(ada, "  otel collector ")
    key, record = created["key"], created["apiKey"]
    assert key.startswith(record["prefix"] + "_")
    assert record["name"] == "otel collector"
    assert record["lastUsedAt"] is None
    assert record["revokedAt"] is None
    listed = (await ada.ok(LIST_KEYS))["apiKeys"]
    assert listed == [record]
    assert key not in str(listed)
    async with stores.database.read() as session:
        row = (await session.exec(select(ApiKey))).one()
        actions = (await session.exec(select(AuditLog.action))).all()
    assert row.key_hash == api_key_hash(key, TEST_JWT_SECRET)  # the keyed hash, not the key
    assert key not in row.key_hash
    assert row.prefix == record["prefix"]
    assert "api_key_created" in actions


async def test_revoking_a_key_marks_it_and_is_audited(caller: MakeCaller, stores: Stores) -> None:
    ada = await caller("ada")
    record = (await make_key(ada))["apiKey"]
    revoked = (await ada.ok(REVOKE_KEY, id=record["id"]))["revokeApiKey"]
    assert revoked["revokedAt"] is not None
    again = (await ada.ok(REVOKE_KEY, id=record["id"]))["revokeApiKey"]
    assert again["revokedAt"] == revoked["revokedAt"]
    async with stores.database.read() as session:
        actions = (
            await session.exec(
                select(AuditLog.action).where(col(AuditLog.action) == "api_key_revoked")
            )
        ).all()
    assert len(actions) == 2


async def test_another_users_key_is_not_found_and_unchanged(caller: MakeCaller) -> None:
    ada, bob = await caller("ada"), await caller("bob")
    record = (await make_key(ada))["apiKey"]
    assert error_codes(await bob.send(REVOKE_KEY, id=record["id"])) == ["NOT_FOUND"]
    assert error_codes(await bob.send(REVOKE_KEY, id=str(uuid.uuid4()))) == ["NOT_FOUND"]
    assert (await bob.ok(LIST_KEYS))["apiKeys"] == []
    assert (await ada.ok(LIST_KEYS))["apiKeys"][0]["revokedAt"] is None


async def test_a_blank_or_long_name_is_refused_and_stores_nothing(
    caller: MakeCaller, stores: Stores
) -> None:
    ada = await caller("ada")
    for name in ("   ", "x" * 101):
        body = await ada.send(CREATE_KEY, name=name)
        assert error_codes(body) == ["BAD_USER_INPUT"]
    async with stores.database.read() as session:
        assert (await session.exec(select(ApiKey))).all() == []


async def test_keys_need_a_signed_in_caller(caller: MakeCaller) -> None:
    ada = await caller("ada")
    ada.headers = {}
    assert error_codes(await ada.send(LIST_KEYS)) == ["UNAUTHENTICATED"]

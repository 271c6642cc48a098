"""Round trips through the real stores: UUIDs, JSON, UTC timestamps, cascades, uniqueness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from core.enums import Role, Tier
from core.errors import Conflict
from db.models import Agent, AgentVersion, User
from db.repositories.users import create_user, get_user_by_username
from db.stores import Stores
from tests.conftest import empty_tables


@pytest.fixture
async def db_stores(stores: Stores) -> Stores:
    yield stores  # type: ignore[misc]
    await empty_tables(stores)


async def _user(stores: Stores, name: str = "ada") -> User:
    async with stores.database.session() as session:
        return await create_user(
            session,
            username=name,
            email=f"{name}@example.org",
            password_hash="x",
            roles=[Role.DEVELOPER],
            tier=Tier.ADVANCED,
        )


async def test_user_round_trip(db_stores: Stores) -> None:
    created = await _user(db_stores, "Ada")
    async with db_stores.database.session() as session:
        loaded = await get_user_by_username(session, "ADA")
    assert loaded is not None
    assert loaded.id == created.id
    assert loaded.username == "ada"
    assert loaded.roles == ["developer"]
    assert loaded.created_at.tzinfo is not None


async def test_duplicate_username_is_a_conflict(db_stores: Stores) -> None:
    await _user(db_stores)
    with pytest.raises(Conflict):
        await _user(db_stores)


async def test_timestamps_come_back_in_utc(db_stores: Stores) -> None:
    owner = await _user(db_stores)
    local = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5)))
    async with db_stores.database.session() as session:
        session.add(
            Agent(
                owner_id=owner.id,
                name="a",
                agent_type="general",
                last_activity=local,
                configuration={"nested": {"weights": [0.5, 0.25]}},
            )
        )
    async with db_stores.database.session() as session:
        agent = (await session.exec(select(Agent))).first()
    assert agent is not None
    assert agent.last_activity == local
    assert agent.last_activity.tzinfo == UTC
    assert agent.configuration == {"nested": {"weights": [0.5, 0.25]}}


async def test_json_documents_keep_integers_beyond_64_bits_and_non_string_keys(
    db_stores: Stores,
) -> None:
    # JSON columns are written with orjson, which refuses such integers: the standard
    # library's encoder writes them instead (db/session.py). Read back, they are numbers as
    # the API's own JSON decoding makes them (floats beyond 64 bits), not an error.
    owner = await _user(db_stores)
    async with db_stores.database.session() as session:
        session.add(
            Agent(
                owner_id=owner.id,
                name="a",
                agent_type="general",
                configuration={"big": 10**30, "keys": {1: "one"}},
            )
        )
    async with db_stores.database.session() as session:
        agent = (await session.exec(select(Agent))).first()
    assert agent is not None
    assert agent.configuration == {"big": 1e30, "keys": {"1": "one"}}


async def test_deleting_a_user_cascades_to_agents_and_versions(db_stores: Stores) -> None:
    owner = await _user(db_stores)
    async with db_stores.database.session() as session:
        agent = Agent(owner_id=owner.id, name="a", agent_type="general")
        session.add(agent)
        await session.flush()
        session.add(AgentVersion(agent_id=agent.id, version=1, changed_by=owner.id))
    async with db_stores.database.session() as session:
        await session.delete(await session.get(User, owner.id))
    async with db_stores.database.session() as session:
        assert (await session.exec(select(Agent))).all() == []
        assert (await session.exec(select(AgentVersion))).all() == []

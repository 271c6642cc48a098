"""The agents connection: filters, orderings, keyset pages under concurrent inserts, cursors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.enums import AgentStatus, AgentType, Role
from db.stores import Stores
from db.types import utcnow
from tests.agents.conftest import Caller, MakeCaller, insert_agents
from tests.support import only_error

LIST = """
query List($filter: AgentFilter, $order: AgentOrder, $first: Int! = 20, $after: String) {
  agents(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name status agentType lastActivity createdAt owner { username } } }
  }
}
"""


async def _page(caller: Caller, **variables: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await caller.ok(LIST, **variables))["agents"]
    return connection


def _names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def _walk(caller: Caller, first: int, **variables: Any) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        connection = await _page(caller, first=first, after=after, **variables)
        names += _names(connection)
        if not connection["pageInfo"]["hasNextPage"]:
            return names
        after = connection["pageInfo"]["endCursor"]


async def test_users_see_only_their_own_agents_and_admins_see_all(
    caller: MakeCaller, stores: Stores
) -> None:
    alice, bob = await caller("alice"), await caller("bob")
    admin = await caller("admin", Role.ADMIN)
    await insert_agents(stores, alice.user_id, 3, prefix="alice")
    await insert_agents(stores, bob.user_id, 2, prefix="bob")
    assert (await _page(alice))["totalCount"] == 3
    assert {e["node"]["owner"]["username"] for e in (await _page(alice))["edges"]} == {"alice"}
    assert (await _page(admin))["totalCount"] == 5
    only_bob = await _page(admin, filter={"ownerId": str(bob.user_id)})
    assert sorted(_names(only_bob)) == ["bob-000", "bob-001"]
    assert (await _page(alice, filter={"ownerId": str(alice.user_id)}))["totalCount"] == 3
    error = only_error(await alice.send(LIST, filter={"ownerId": str(bob.user_id)}))
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_filters_combine_and_name_contains_takes_wildcards_literally(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    base = utcnow() - timedelta(days=10)
    rows = await insert_agents(stores, alice.user_id, 6, prefix="Bot", created_at=base)
    async with stores.database.session() as session:
        for index, row in enumerate(rows):
            row.status = [AgentStatus.ACTIVE, AgentStatus.PAUSED, AgentStatus.ERROR][index % 3]
            row.agent_type = (AgentType.CREATIVE if index < 3 else AgentType.RESEARCH).value
            row.last_activity = base + timedelta(days=index) if index % 2 else None
            session.add(row)
    await insert_agents(stores, alice.user_id, 1, prefix="50%_off")
    await insert_agents(stores, alice.user_id, 1, prefix="500 off")

    async def names(**where: Any) -> list[str]:
        order = {"field": "NAME", "direction": "ASC"}
        return _names(await _page(alice, filter=where, order=order, first=100))

    assert await names(status=["ACTIVE", "PAUSED"]) == ["Bot-000", "Bot-001", "Bot-003", "Bot-004"]
    assert await names(agentType=["RESEARCH"], status=["ACTIVE"]) == ["Bot-003"]
    assert await names(status=[]) == []  # no status allowed: none listed, as `IN ()` is false
    assert (await _page(alice, filter={"agentType": []}))["totalCount"] == 0
    assert await names(nameContains="bot-00") == [f"Bot-00{i}" for i in range(6)]
    assert await names(nameContains="%_") == ["50%_off-000"]
    assert await names(nameContains="0%") == ["50%_off-000"]
    assert await names(nameContains="_") == ["50%_off-000"]
    cutoff = (base + timedelta(seconds=3)).isoformat()
    assert await names(createdBefore=cutoff, nameContains="bot") == [
        "Bot-000",
        "Bot-001",
        "Bot-002",
    ]
    assert await names(createdAfter=cutoff, nameContains="bot") == ["Bot-003", "Bot-004", "Bot-005"]
    active_from = (base + timedelta(days=2)).isoformat()
    assert await names(lastActivityAfter=active_from) == ["Bot-003", "Bot-005"]
    assert await names(lastActivityBefore=active_from) == ["Bot-001"]
    count = await _page(alice, filter={"status": ["ERROR"]})
    assert count["totalCount"] == 2

    naive = only_error(await alice.send(LIST, filter={"createdAfter": "2020-01-01T00:00:00"}))
    assert naive["extensions"]["field"] == "filter.createdAfter"


@pytest.mark.parametrize("field", ["NAME", "CREATED_AT", "UPDATED_AT", "LAST_ACTIVITY"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_every_ordering_pages_through_all_rows_in_order(
    caller: MakeCaller, stores: Stores, field: str, direction: str
) -> None:
    alice = await caller("alice")
    base = datetime(2030, 1, 1, tzinfo=UTC)
    rows = await insert_agents(stores, alice.user_id, 11, created_at=base)
    async with stores.database.session() as session:
        for index, row in enumerate(rows):
            # Ties in updated_at and last_activity (and nulls) exercise the id tiebreak.
            row.updated_at = base + timedelta(hours=index % 3)
            row.last_activity = None if index % 4 == 0 else base + timedelta(hours=index % 2)
            session.add(row)

    def key(row: Any) -> tuple[Any, str]:
        value = {
            "NAME": row.name,
            "CREATED_AT": row.created_at,
            "UPDATED_AT": row.updated_at,
            "LAST_ACTIVITY": row.last_activity or datetime(1970, 1, 1, tzinfo=UTC),
        }[field]
        # The id tiebreak compares ids as the database does: uuid bytes = hex order.
        return value, row.id.hex

    expected = [row.name for row in sorted(rows, key=key, reverse=direction == "DESC")]
    order = {"field": field, "direction": direction}
    assert await _walk(alice, 4, order=order) == expected
    assert await _walk(alice, 100, order=order) == expected


async def test_pages_have_no_duplicates_or_gaps_when_rows_are_inserted_between_fetches(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    await insert_agents(stores, alice.user_id, 10, prefix="m")  # m-000 … m-009
    order = {"field": "NAME", "direction": "ASC"}
    first = await _page(alice, order=order, first=4)
    assert _names(first) == ["m-000", "m-001", "m-002", "m-003"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    # Between the fetches: rows that sort before the cursor and after it.
    await alice.create("a-before")
    await alice.create("m-0025")
    await alice.create("m-0055")
    await alice.create("z-after")
    seen = _names(first)
    after = first["pageInfo"]["endCursor"]
    while after is not None:
        page = await _page(alice, order=order, first=4, after=after)
        assert page["pageInfo"]["hasPreviousPage"] is True
        assert page["totalCount"] == 14
        seen += _names(page)
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen))
    assert seen == [f"m-00{i}" for i in range(4)] + [
        "m-004",
        "m-005",
        "m-0055",
        "m-006",
        "m-007",
        "m-008",
        "m-009",
        "z-after",
    ]


async def test_newest_first_pages_keep_their_place_when_new_agents_arrive(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    rows = await insert_agents(stores, alice.user_id, 6, prefix="old")
    first = await _page(alice, first=3)  # default order: CREATED_AT DESC
    assert _names(first) == ["old-005", "old-004", "old-003"]
    await alice.create("newest")  # sorts before the cursor: not on later pages
    await insert_agents(
        stores, alice.user_id, 1, prefix="older", created_at=rows[0].created_at - timedelta(days=1)
    )  # sorts after the cursor: on a later page
    rest = await _page(alice, first=10, after=first["pageInfo"]["endCursor"])
    assert _names(rest) == ["old-002", "old-001", "old-000", "older-000"]


async def test_bad_cursors_and_page_sizes_are_refused_clearly(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    await insert_agents(stores, alice.user_id, 3)
    cursor = (await _page(alice, first=1))["pageInfo"]["endCursor"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (tampered, "not a cursor!", cursor[:-2]):
        error = only_error(await alice.send(LIST, first=1, after=bad))
        assert error["extensions"]["code"] == "BAD_USER_INPUT", bad
        assert error["extensions"]["field"] == "after"
    other_order = {"field": "NAME", "direction": "ASC"}
    error = only_error(await alice.send(LIST, first=1, after=cursor, order=other_order))
    assert "another listing" in error["message"]
    flipped = {"field": "CREATED_AT", "direction": "ASC"}
    assert only_error(await alice.send(LIST, first=1, after=cursor, order=flipped))
    for first in (0, 101, -1):
        error = only_error(await alice.send(LIST, first=first))
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (
            "BAD_USER_INPUT",
            "first",
        )

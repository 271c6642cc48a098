"""The agents listing fetches with its page what its query selects, and only that: the
owners and the stats in one query each (not through per-agent DataLoaders), the count only
for totalCount."""

from __future__ import annotations

from typing import Any

import pytest

import resolvers.loaders
from core.enums import Role
from db.metrics_outbox import stage
from db.stores import Stores
from tests.agents.conftest import Caller, MakeCaller, insert_agents
from tests.agents.test_agent_sessions import counting_statements
from tests.analytics.conftest import Metrics, make_row, metrics

__all__ = ["metrics"]

CARDS = """
{ agents(first: 10, orderBy: {field: NAME, direction: ASC}) { edges { node { ...Card } } } }
fragment Card on Agent { name who: owner { username } ... on Agent { stats { requestCount } } }
"""
AGENT_STATS = "query($id: UUID!) { agent(id: $id) { stats { requestCount } } }"


async def _queries(caller: Caller, stores: Stores, query: str, **variables: Any) -> Any:
    """The operation's data, and how many database and analytics queries it cost."""
    with counting_statements(stores) as (statements, analytics):
        data = await caller.ok(query, **variables)
    return data, (len(statements), len(analytics))


@pytest.mark.parametrize(
    ("query", "variables", "counted"),
    [
        ("{ agents { edges { node { id } } } }", {}, False),
        ("{ agents { totalCount } }", {}, True),
        ("{ agents { totalCount @include(if: false) edges { node { id } } } }", {}, False),
        ("query($s: Boolean!) { agents { totalCount @skip(if: $s) } }", {"s": True}, False),
        ("query($s: Boolean!) { agents { totalCount @skip(if: $s) } }", {"s": False}, True),
        ("{ agents { ...Count } } fragment Count on AgentConnection { n: totalCount }", {}, True),
    ],
)
async def test_the_agents_are_counted_only_when_total_count_is_selected(
    caller: MakeCaller, stores: Stores, query: str, variables: dict[str, Any], counted: bool
) -> None:
    alice = await caller("alice")
    await insert_agents(stores, alice.user_id, 3)
    data, queries = await _queries(alice, stores, query, **variables)
    assert queries == (2 if counted else 1, 0)  # the page, and the count when selected
    if counted:
        assert set(data["agents"].values()) == {3}


async def test_owners_and_stats_come_with_the_page_not_from_dataloaders(
    caller: MakeCaller, stores: Stores, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await caller("alice")
    agents = await insert_agents(stores, alice.user_id, 4)
    for count, agent in enumerate(agents):
        await metrics.insert([make_row(alice.user_id, agent.id, i) for i in range(count)])
    single = [(await alice.ok(AGENT_STATS, id=str(agent.id)))["agent"]["stats"] for agent in agents]

    async def unused(*args: object) -> None:
        raise AssertionError("the listing fetched through a DataLoader")

    monkeypatch.setattr(resolvers.loaders, "load_users", unused)
    monkeypatch.setattr(resolvers.loaders, "load_agent_stats", unused)
    stores.agent_stats.clear()  # the single reads above cached each agent's stats
    data, queries = await _queries(alice, stores, CARDS)
    assert queries == (1, 1)  # the page (its owner is the caller); its agents' stats
    nodes = [edge["node"] for edge in data["agents"]["edges"]]
    assert [node["name"] for node in nodes] == [agent.name for agent in agents]
    assert {node["who"]["username"] for node in nodes} == {"alice"}
    assert [node["stats"] for node in nodes] == single
    assert [stats["requestCount"] for stats in single] == [0, 1, 2, 3]


async def test_stats_read_again_before_an_insert_come_from_the_cache(
    caller: MakeCaller, stores: Stores, metrics: Metrics
) -> None:
    alice = await caller("alice")
    agents = await insert_agents(stores, alice.user_id, 2)
    await metrics.insert([make_row(alice.user_id, agents[0].id, 0)])
    stores.agent_stats.clear()
    first, queries = await _queries(alice, stores, CARDS)
    assert queries == (1, 1)
    again, queries = await _queries(alice, stores, CARDS)
    assert queries == (1, 0)  # no insert by this process since: the same stats, no query
    assert again == first


async def test_an_insert_by_this_process_makes_stats_read_again(
    caller: MakeCaller, stores: Stores, metrics: Metrics
) -> None:
    alice = await caller("alice")
    [agent] = await insert_agents(stores, alice.user_id, 1)
    stores.agent_stats.clear()
    await _queries(alice, stores, CARDS)
    writer = stores.metrics_writer
    assert writer is not None
    async with stores.database.session() as session:
        await stage(session, make_row(alice.user_id, agent.id, 0))
    metrics.track(alice.user_id)
    assert await writer.flush()
    data, queries = await _queries(alice, stores, CARDS)
    assert queries == (1, 1)
    [edge] = data["agents"]["edges"]
    assert edge["node"]["stats"]["requestCount"] == 1


async def test_an_empty_page_asks_no_store_for_owners_or_stats(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    query = "{ agents { edges { node { owner { username } stats { requestCount } } } } }"
    data, queries = await _queries(alice, stores, query)
    assert data == {"agents": {"edges": []}}
    assert queries == (1, 0)  # the page only


async def test_an_unreachable_analytics_store_nulls_only_the_listed_stats(
    caller: MakeCaller, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await caller("alice")
    await insert_agents(stores, alice.user_id, 2)

    async def unreachable(sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(stores.analytics, "query_rows", unreachable)
    body = await alice.send(
        "{ agents(orderBy: {field: NAME, direction: ASC}) "
        "{ totalCount edges { node { name stats { requestCount } } } } }"
    )
    assert body["data"]["agents"] == {
        "totalCount": 2,
        "edges": [
            {"node": {"name": "agent-000", "stats": None}},
            {"node": {"name": "agent-001", "stats": None}},
        ],
    }
    assert [error["path"] for error in body["errors"]] == [
        ["agents", "edges", index, "node", "stats"] for index in range(2)
    ]
    assert all("analytics store" in error["message"] for error in body["errors"])
    assert {error["extensions"]["code"] for error in body["errors"]} == {"INTERNAL"}


async def test_an_admin_listing_gets_each_agents_own_owner(
    caller: MakeCaller, stores: Stores
) -> None:
    admin = await caller("admin", Role.ADMIN)
    alice, bob = await caller("alice"), await caller("bob")
    for user in (alice, bob):
        await insert_agents(stores, user.user_id, 2, prefix=user.username)
    data, queries = await _queries(
        admin, stores, "{ agents { edges { node { name owner { id username } } } } }"
    )
    assert queries == (2, 0)
    owners = {edge["node"]["name"]: edge["node"]["owner"] for edge in data["agents"]["edges"]}
    assert owners == {
        f"{user.username}-{index:03d}": {"id": str(user.user_id), "username": user.username}
        for user in (alice, bob)
        for index in range(2)
    }


@pytest.mark.parametrize(
    ("owner", "queries"),
    [
        ("username roles tier permissions", 1),  # the caller's token states them
        ("username email", 2),  # only the account row has the email
        ("... on User { createdAt }", 2),
    ],
)
async def test_the_callers_own_agents_need_their_account_row_only_for_its_fields(
    caller: MakeCaller, stores: Stores, owner: str, queries: int
) -> None:
    alice = await caller("alice")
    await insert_agents(stores, alice.user_id, 3)
    query = "{ agents { edges { node { owner { id %s } } } } }" % owner  # noqa: UP031
    data, counted = await _queries(alice, stores, query)
    assert counted == (queries, 0)
    mine = await alice.ok("{ me { id username roles tier permissions email createdAt } }")
    for edge in data["agents"]["edges"]:
        assert edge["node"]["owner"].items() <= mine["me"].items()

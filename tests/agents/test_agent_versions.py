"""Updates with optimistic concurrency, the version history, and rollback."""

from __future__ import annotations

import asyncio

import pytest

from db.stores import Stores
from tests.agents.conftest import GET, UPDATE, VERSIONS, MakeCaller, version_count
from tests.support import only_error

ROLLBACK = """
mutation($id: UUID!, $version: Int!) {
  rollbackAgent(id: $id, version: $version) {
    name description agentType configuration status version
  }
}
"""


async def test_update_changes_fields_bumps_version_and_records_what_changed(
    caller: MakeCaller,
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Sage", description="old")
    updated = (
        await alice.ok(
            UPDATE,
            id=agent["id"],
            input={
                "name": "Sage II",
                "agentType": "RESEARCH",
                "configuration": {"metacognition_depth": 4},
            },
            v=1,
        )
    )["updateAgent"]
    assert updated["name"] == "Sage II"
    assert updated["description"] == "old"  # omitted: kept
    assert updated["agentType"] == "RESEARCH"
    assert updated["configuration"] == {"metacognition_depth": 4}
    assert updated["version"] == 2
    assert updated["updatedAt"] > agent["updatedAt"]

    versions = (await alice.ok(VERSIONS, id=agent["id"]))["agentVersions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["changes"] == {
        "name": {"before": "Sage", "after": "Sage II"},
        "agentType": {"before": "GENERAL", "after": "RESEARCH"},
        "configuration": {"before": {}, "after": {"metacognition_depth": 4}},
    }
    assert versions[0]["name"] == "Sage II"
    assert versions[0]["changedBy"] == str(alice.user_id)
    assert versions[1]["name"] == "Sage"
    older = (await alice.ok(VERSIONS, id=agent["id"], first=1, before=2))["agentVersions"]
    assert [v["version"] for v in older] == [1]


async def test_update_that_changes_nothing_writes_no_version(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Same", description="d")
    same = await alice.ok(UPDATE, id=agent["id"], input={"name": "Same", "description": "d"}, v=1)
    assert same["updateAgent"]["version"] == 1
    assert await version_count(stores, agent["id"]) == 1


async def test_stale_expected_version_is_a_conflict_with_the_current_version_and_changes_nothing(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Sage")
    await alice.ok(UPDATE, id=agent["id"], input={"description": "v2"}, v=1)
    error = only_error(await alice.send(UPDATE, id=agent["id"], input={"name": "lost"}, v=1))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["currentVersion"] == 2
    current = (await alice.ok(GET, id=agent["id"]))["agent"]
    assert (current["name"], current["version"]) == ("Sage", 2)
    assert await version_count(stores, agent["id"]) == 2


async def test_two_concurrent_updates_of_the_same_version_exactly_one_wins(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Race")
    for round_ in range(3):
        version = round_ + 1
        bodies = await asyncio.gather(
            *(
                alice.send(
                    UPDATE,
                    id=agent["id"],
                    input={"description": f"round {round_} writer {i}"},
                    v=version,
                )
                for i in range(2)
            )
        )
        winners = [body for body in bodies if "errors" not in body]
        losers = [only_error(body) for body in bodies if "errors" in body]
        assert len(winners) == 1, bodies
        assert [error["extensions"]["code"] for error in losers] == ["CONFLICT"]
        assert losers[0]["extensions"]["currentVersion"] == version + 1
        current = (await alice.ok(GET, id=agent["id"]))["agent"]
        assert current["version"] == version + 1
        assert current["description"] == winners[0]["data"]["updateAgent"]["description"]
    assert await version_count(stores, agent["id"]) == 4


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"description": "d" * 2001}, "description"),
        ({"configuration": {"blocking_threshold": -0.1}}, "configuration.blocking_threshold"),
        ({"configuration": None}, "configuration"),
    ],
)
async def test_bad_update_is_refused_naming_the_field_and_changes_nothing(
    caller: MakeCaller, stores: Stores, update: dict[str, object], field: str
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Sage")
    error = only_error(await alice.send(UPDATE, id=agent["id"], input=update, v=1))
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", field)
    assert (await alice.ok(GET, id=agent["id"]))["agent"] == agent
    assert await version_count(stores, agent["id"]) == 1


async def test_renaming_onto_another_agents_name_is_a_conflict(caller: MakeCaller) -> None:
    alice = await caller("alice")
    await alice.create("Taken")
    agent = await alice.create("Free")
    error = only_error(await alice.send(UPDATE, id=agent["id"], input={"name": "Taken"}, v=1))
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("CONFLICT", "name")
    assert (await alice.ok(GET, id=agent["id"]))["agent"]["name"] == "Free"


async def test_rollback_creates_a_new_version_with_the_old_contents(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create(
        "Sage", description="first", configuration={"blocking_threshold": 0.2}
    )
    await alice.ok(
        UPDATE,
        id=agent["id"],
        input={"name": "Sage 2", "agentType": "CREATIVE", "configuration": {}},
        v=1,
    )
    await alice.ok("mutation($id: UUID!) { activateAgent(id: $id) { id } }", id=agent["id"])

    rolled = (await alice.ok(ROLLBACK, id=agent["id"], version=1))["rollbackAgent"]
    assert rolled == {
        "name": "Sage",
        "description": "first",
        "agentType": "GENERAL",
        "configuration": {"blocking_threshold": 0.2},
        "status": "ACTIVE",  # the lifecycle is not rolled back
        "version": 4,
    }
    latest = (await alice.ok(VERSIONS, id=agent["id"], first=1))["agentVersions"][0]
    assert latest["version"] == 4
    assert latest["changes"]["rolledBackTo"] == 1
    assert latest["changes"]["name"] == {"before": "Sage 2", "after": "Sage"}

    missing = only_error(await alice.send(ROLLBACK, id=agent["id"], version=9))
    assert missing["extensions"]["code"] == "NOT_FOUND"
    assert await version_count(stores, agent["id"]) == 4

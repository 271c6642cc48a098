"""Creating, reading and deleting agents; validation; ownership; permissions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from core.enums import Role
from db.models import Agent, AgentVersion, ConsciousnessSession
from db.stores import Stores
from tests.agents.conftest import (
    CREATE,
    DELETE,
    GET,
    UPDATE,
    VERSIONS,
    MakeCaller,
    count_rows,
    insert_sessions,
)
from tests.apps import Running
from tests.support import error_codes, graphql, only_error

CONFIG = {
    "blocking_threshold": 0.7,
    "block_on_critical": False,
    "framework_weights": {"utilitarian": 1, "deontological": 0.5, "virtue": 0},
    "metacognition_depth": 3,
    "max_input_chars": 4000,
    "state_half_life_sessions": 12.5,
}


async def _agent_count(stores: Stores) -> int:
    async with stores.database.session() as session:
        return int((await session.exec(select(func.count()).select_from(Agent))).one())


async def test_create_agent_returns_it_inactive_at_version_1_with_its_owner(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create(
        "  Sage  ", description="thinks", agentType="ETHICAL_ADVISOR", configuration=CONFIG
    )
    assert agent["name"] == "Sage"
    assert agent["description"] == "thinks"
    assert agent["agentType"] == "ETHICAL_ADVISOR"
    assert agent["configuration"] == CONFIG
    assert agent["consciousnessState"] == {}
    assert agent["status"] == "INACTIVE"
    assert agent["version"] == 1
    assert agent["lastActivity"] is None
    assert agent["owner"] == {"id": str(alice.user_id), "username": "alice"}
    fetched = await alice.ok(GET, id=agent["id"])
    assert fetched["agent"] == agent
    versions = (await alice.ok(VERSIONS, id=agent["id"]))["agentVersions"]
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["changes"]["name"] == {"before": None, "after": "Sage"}
    assert versions[0]["changedBy"] == str(alice.user_id)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"description": "d" * 2001}, "description"),
        ({"configuration": [1, 2]}, "configuration"),
        ({"configuration": {"blocking_threshold": 1.5}}, "configuration.blocking_threshold"),
        ({"configuration": {"blocking_threshold": "high"}}, "configuration.blocking_threshold"),
        ({"configuration": {"blocking_threshold": True}}, "configuration.blocking_threshold"),
        ({"configuration": {"metacognition_depth": 6}}, "configuration.metacognition_depth"),
        ({"configuration": {"metacognition_depth": 2.5}}, "configuration.metacognition_depth"),
        ({"configuration": {"max_input_chars": 0}}, "configuration.max_input_chars"),
        (
            {"configuration": {"state_half_life_sessions": -1}},
            "configuration.state_half_life_sessions",
        ),
        (
            {"configuration": {"framework_weights": {"virtue": -0.1}}},
            "configuration.framework_weights.virtue",
        ),
        (
            {"configuration": {"framework_weights": {"karma": 1}}},
            "configuration.framework_weights.karma",
        ),
        (
            {
                "configuration": {
                    "framework_weights": {"virtue": 0, "utilitarian": 0, "deontological": 0}
                }
            },
            "configuration.framework_weights",
        ),
        ({"configuration": {"quantum_coherence": 1}}, "configuration.quantum_coherence"),
        ({"configuration": {"block_on_critical": "yes"}}, "configuration.block_on_critical"),
        ({"configuration": {"profanity_threshold": 2}}, "configuration.profanity_threshold"),
        # Too large: refused before any key (even an unknown one) is looked at.
        ({"configuration": {"blocking_threshold": 0.5, "pad": "p" * 17_000}}, "configuration"),
    ],
)
async def test_create_agent_rejects_bad_input_naming_the_field_and_writes_nothing(
    caller: MakeCaller, stores: Stores, fields: dict[str, Any], field: str
) -> None:
    alice = await caller("alice")
    variables = {"input": {"name": "ok", "agentType": "GENERAL", **fields}}
    error = only_error(await alice.send(CREATE, **variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field
    assert await _agent_count(stores) == 0


async def test_unknown_agent_type_is_a_bad_user_input(caller: MakeCaller, stores: Stores) -> None:
    alice = await caller("alice")
    body = await alice.send(CREATE, input={"name": "x", "agentType": "ORACLE"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await _agent_count(stores) == 0


async def test_agent_names_are_unique_per_owner(caller: MakeCaller, stores: Stores) -> None:
    alice, bob = await caller("alice"), await caller("bob")
    await alice.create("Sage")
    error = only_error(await alice.send(CREATE, input={"name": "Sage", "agentType": "GENERAL"}))
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "name"
    await bob.create("Sage")  # another owner may use the name
    assert await _agent_count(stores) == 2


async def test_another_users_agent_is_not_found_everywhere_but_an_admin_sees_it(
    caller: MakeCaller, stores: Stores
) -> None:
    alice, mallory, admin = (
        await caller("alice"),
        await caller("mallory"),
        await caller("admin", Role.ADMIN),
    )
    agent = await alice.create("Private")
    agent_id = agent["id"]
    attempts = [
        (GET, {"id": agent_id}),
        (VERSIONS, {"id": agent_id}),
        (UPDATE, {"id": agent_id, "input": {"name": "mine"}, "v": 1}),
        ("mutation($id: UUID!) { activateAgent(id: $id) { status } }", {"id": agent_id}),
        ("mutation($id: UUID!) { pauseAgent(id: $id) { status } }", {"id": agent_id}),
        ("mutation($id: UUID!) { deactivateAgent(id: $id) { status } }", {"id": agent_id}),
        ("mutation($id: UUID!) { rollbackAgent(id: $id, version: 1) { id } }", {"id": agent_id}),
        (DELETE, {"id": agent_id, "confirm": True}),
    ]
    for query, variables in attempts:
        error = only_error(await mallory.send(query, **variables))
        assert error["extensions"]["code"] == "NOT_FOUND", (query, error)
        # Indistinguishable from an id that does not exist.
        missing = only_error(await mallory.send(query, **{**variables, "id": str(uuid.uuid4())}))
        assert missing["message"] == error["message"]
    listed = await mallory.ok("{ agents { totalCount } }")
    assert listed["agents"]["totalCount"] == 0
    assert await count_rows(stores, AgentVersion, agent_id) == 1

    seen = await admin.ok(GET, id=agent_id)
    assert seen["agent"]["owner"]["username"] == "alice"
    renamed = await admin.ok(UPDATE, id=agent_id, input={"description": "audited"}, v=1)
    assert renamed["updateAgent"]["version"] == 2


async def test_agent_operations_need_a_token_and_the_agent_permissions(
    client: httpx.AsyncClient,
) -> None:
    anonymous: list[tuple[str, dict[str, object]]] = [
        ("{ agents { totalCount } }", {}),
        (GET, {"id": str(uuid.uuid4())}),
        (CREATE, {"input": {"name": "x", "agentType": "GENERAL"}}),
        (DELETE, {"id": str(uuid.uuid4()), "confirm": True}),
    ]
    for query, variables in anonymous:
        body = await graphql(client, query, variables)
        assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_delete_needs_confirm_then_removes_versions_and_sessions_once(
    caller: MakeCaller, stores: Stores, app: Running
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Doomed")
    agent_id = uuid.UUID(agent["id"])
    await alice.ok(UPDATE, id=agent["id"], input={"description": "v2"}, v=1)
    await insert_sessions(app, agent_id, alice.user_id, [1.0, 2.0, 3.0])

    refused = only_error(await alice.send(DELETE, id=agent["id"], confirm=False))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["extensions"]["field"] == "confirm"
    assert await count_rows(stores, Agent, agent_id) == 1

    deleted = await alice.ok(DELETE, id=agent["id"], confirm=True)
    assert deleted == {"deleteAgent": {"id": agent["id"]}}
    for model in (Agent, AgentVersion, ConsciousnessSession):
        assert await count_rows(stores, model, agent_id) == 0

    again = only_error(await alice.send(DELETE, id=agent["id"], confirm=True))
    assert again["extensions"]["code"] == "NOT_FOUND"
    assert only_error(await alice.send(GET, id=agent["id"]))["extensions"]["code"] == "NOT_FOUND"


async def test_concurrent_creates_with_one_name_make_one_agent_and_one_conflict(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    variables = {"input": {"name": "Twin", "agentType": "GENERAL"}}
    bodies = await asyncio.gather(*(alice.send(CREATE, **variables) for _ in range(3)))
    assert sorted(error_codes(body)[0] if "errors" in body else "OK" for body in bodies) == [
        "CONFLICT",
        "CONFLICT",
        "OK",
    ]
    assert await _agent_count(stores) == 1

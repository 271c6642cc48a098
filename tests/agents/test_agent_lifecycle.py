"""The status state machine, mark_agent_error, and the agent events on the broker."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest

from core.errors import NotFound
from db.pubsub import Subscription
from db.stores import Stores
from resolvers.agent_versions import TRANSITIONS, mark_agent_error
from resolvers.events import agent_topic, owner_agents_topic
from tests.agents.conftest import DELETE, UPDATE, VERSIONS, Caller, MakeCaller
from tests.support import only_error

MUTATION = {
    "ACTIVE": "activateAgent",
    "PAUSED": "pauseAgent",
    "INACTIVE": "deactivateAgent",
}
EVENT_TIMEOUT_SECONDS = 5


async def _set(caller: Caller, agent_id: str, target: str) -> dict[str, Any]:
    name = MUTATION[target]
    return await caller.send(
        f"mutation($id: UUID!) {{ {name}(id: $id) {{ status version }} }}", id=agent_id
    )


async def _engine_error(stores: Stores, agent_id: str, reason: str = "engine failed") -> None:
    """What the engine layer will do: call mark_agent_error with its context (stores suffice)."""
    context: Any = type("EngineContext", (), {"stores": stores, "request_id": "engine"})()
    await mark_agent_error(context, uuid.UUID(agent_id), reason)


async def _put_in(caller: Caller, stores: Stores, agent_id: str, status: str) -> None:
    if status in ("ACTIVE", "PAUSED"):
        assert "errors" not in await _set(caller, agent_id, "ACTIVE")
    if status == "PAUSED":
        assert "errors" not in await _set(caller, agent_id, "PAUSED")
    if status == "ERROR":
        await _engine_error(stores, agent_id)


STATUSES = ["INACTIVE", "ACTIVE", "PAUSED", "ERROR"]
ALLOWED = {
    ("INACTIVE", "ACTIVE"),
    ("ACTIVE", "PAUSED"),
    ("PAUSED", "ACTIVE"),
    ("ACTIVE", "INACTIVE"),
    ("PAUSED", "INACTIVE"),
    ("ERROR", "INACTIVE"),
}


def test_the_documented_state_machine_is_the_one_enforced() -> None:
    enforced = {
        (current.name, target.name)
        for current, targets in TRANSITIONS.items()
        for target in targets
        if target.name != "ERROR"
    }
    assert enforced == ALLOWED


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", ["ACTIVE", "PAUSED", "INACTIVE"])
async def test_user_transitions_are_legal_or_a_bad_user_input_naming_both_statuses(
    caller: MakeCaller, stores: Stores, current: str, target: str
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Cycler")
    await _put_in(alice, stores, agent["id"], current)
    before = (await alice.ok(VERSIONS, id=agent["id"], first=1))["agentVersions"][0]
    body = await _set(alice, agent["id"], target)
    if (current, target) in ALLOWED:
        changed = body["data"][MUTATION[target]]
        assert changed == {"status": target, "version": before["version"] + 1}
        latest = (await alice.ok(VERSIONS, id=agent["id"], first=1))["agentVersions"][0]
        assert latest["changes"] == {"status": {"before": current, "after": target}}
        assert latest["status"] == target
    else:
        error = only_error(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["currentStatus"] == current
        assert error["extensions"]["requestedStatus"] == target
        assert current in error["message"]
        assert target in error["message"]
        after = (await alice.ok(VERSIONS, id=agent["id"], first=1))["agentVersions"][0]
        assert after == before


async def test_engine_error_is_recorded_once_and_reset_by_deactivation(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    agent = await alice.create("Fragile")
    await _put_in(alice, stores, agent["id"], "ACTIVE")
    await _engine_error(stores, agent["id"], "model crashed")
    await _engine_error(stores, agent["id"], "again")  # already ERROR: nothing changes
    versions = (await alice.ok(VERSIONS, id=agent["id"]))["agentVersions"]
    assert [v["status"] for v in versions] == ["ERROR", "ACTIVE", "INACTIVE"]
    assert versions[0]["changes"] == {
        "status": {"before": "ACTIVE", "after": "ERROR"},
        "reason": "model crashed",
    }
    assert versions[0]["changedBy"] is None
    refused = only_error(await _set(alice, agent["id"], "ACTIVE"))
    assert refused["extensions"]["currentStatus"] == "ERROR"
    reset = await _set(alice, agent["id"], "INACTIVE")
    assert reset["data"]["deactivateAgent"]["status"] == "INACTIVE"
    with pytest.raises(NotFound):
        await _engine_error(stores, str(uuid.uuid4()))


async def _next(subscription: Subscription) -> dict[str, Any]:
    return await asyncio.wait_for(anext(subscription), EVENT_TIMEOUT_SECONDS)


async def test_every_change_publishes_one_event_to_the_agent_and_owner_topics(
    caller: MakeCaller, stores: Stores
) -> None:
    alice = await caller("alice")
    async with stores.broker.subscribe(owner_agents_topic(alice.user_id)) as owner_events:
        agent = await alice.create("Loud")
        created = await _next(owner_events)
        assert created["kind"] == "CREATED"
        assert created["agent_id"] == agent["id"]
        assert created["owner_id"] == str(alice.user_id)
        assert (created["status"], created["version"]) == ("INACTIVE", 1)
        assert "timestamp" in created

        async with AsyncExitStack() as stack:
            agent_events = await stack.enter_async_context(
                stores.broker.subscribe(agent_topic(uuid.UUID(agent["id"])))
            )
            await alice.ok(UPDATE, id=agent["id"], input={"description": "x"}, v=1)
            await _set(alice, agent["id"], "ACTIVE")
            await alice.ok(DELETE, id=agent["id"], confirm=True)
            expected = [("UPDATED", "INACTIVE", 2), ("STATUS_CHANGED", "ACTIVE", 3)]
            expected.append(("DELETED", "ACTIVE", 3))
            for subscription in (agent_events, owner_events):
                got = [await _next(subscription) for _ in expected]
                assert [(e["kind"], e["status"], e["version"]) for e in got] == expected
                assert {e["agent_id"] for e in got} == {agent["id"]}


async def test_refused_changes_publish_nothing(caller: MakeCaller, stores: Stores) -> None:
    alice = await caller("alice")
    agent = await alice.create("Quiet")
    async with stores.broker.subscribe(agent_topic(uuid.UUID(agent["id"]))) as events:
        only_error(await _set(alice, agent["id"], "PAUSED"))
        only_error(await alice.send(UPDATE, id=agent["id"], input={"name": ""}, v=1))
        only_error(await alice.send(DELETE, id=agent["id"], confirm=False))
        await alice.ok(UPDATE, id=agent["id"], input={"description": "marker"}, v=1)
        assert (await _next(events))["kind"] == "UPDATED"  # the first event is the marker's

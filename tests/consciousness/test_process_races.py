"""`process` against concurrent writers of the same agent: no state update is ever lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

import engine
from core.enums import AgentStatus, Role, Tier
from db.models import Agent, ConsciousnessSession
from db.repositories import sessions
from db.stores import Stores
from resolvers.context import PROCESS_PATH
from tests.apps import Running
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    count_rows,
    only_error,
    process_input,
    stored_agent,
    stored_sessions,
)

TEXT = "Why does everyone always ignore me? Mail me at ann@example.com."
OTHER = "I love how calm the sea is today."


async def _commit_another_session(stores: Stores, agent_id: str) -> dict[str, Any]:
    """What a concurrent `process` of OTHER commits: the next state, its version bumped."""
    agent = await stored_agent(stores, agent_id)
    prior = engine.AgentState.from_dict(agent.consciousness_state)
    state = engine.process(engine.EngineRequest(OTHER), prior, engine.EngineConfig()).state
    async with stores.database.session() as session:
        await session.exec(
            update(Agent)
            .where(col(Agent.id) == uuid.UUID(agent_id))
            .values(consciousness_state=state.to_dict(), state_version=agent.state_version + 1)
        )
    return state.to_dict()


def _interfere(monkeypatch: pytest.MonkeyPatch, times: int, interference: Any) -> list[bool]:
    """Run `interference()` before each of the first `times` writes; the writes' outcomes.

    A write is the optimistic `store_session_if_current` or, after it lost, the
    `store_session` under the row lock.
    """
    outcomes: list[bool] = []

    def interfering(real: Any) -> Any:
        async def write(*args: Any) -> bool:
            if len(outcomes) < times:
                await interference()
            outcomes.append(await real(*args))
            return outcomes[-1]

        return write

    for name in ("store_session_if_current", "store_session"):
        monkeypatch.setattr(sessions, name, interfering(getattr(sessions, name)))
    return outcomes


def _expected_state(prior: dict[str, Any], text: str) -> dict[str, Any]:
    result = engine.process(
        engine.EngineRequest(text), engine.AgentState.from_dict(prior), engine.EngineConfig()
    )
    return result.state.to_dict()


async def test_concurrent_calls_on_one_agent_lose_no_state_update(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("crowd", Role.USER, Tier.ENTERPRISE)
    agent_id = await active_agent(owner)
    calls = 20
    bodies = await asyncio.gather(
        *(
            owner.send(PROCESS, input=process_input(agent_id, f"Message number {n} is here."))
            for n in range(calls)
        )
    )
    assert all("errors" not in body for body in bodies), bodies
    agent = await stored_agent(stores, agent_id)
    assert agent.consciousness_state["sessions"] == calls
    assert agent.state_version == calls
    assert await count_rows(stores, ConsciousnessSession, agent_id) == calls
    seen = sorted(body["data"]["process"]["consciousnessState"]["sessions"] for body in bodies)
    assert seen == list(range(1, calls + 1))


async def test_a_write_that_loses_a_race_refolds_on_the_committed_state(
    caller: MakeCaller, stores: Stores, app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await caller("racer")
    agent_id = await active_agent(owner)
    await owner.ok(PROCESS, input=process_input(agent_id, "A first session."))
    committed: list[dict[str, Any]] = []

    async def interference() -> None:
        committed.append(await _commit_another_session(stores, agent_id))

    outcomes = _interfere(monkeypatch, 1, interference)
    retries = app.state.state_retries[PROCESS_PATH]
    answer = (await owner.ok(PROCESS, input=process_input(agent_id, TEXT)))["process"]
    assert outcomes == [False, True]  # the second under the row lock
    assert app.state.state_retries[PROCESS_PATH] == retries + 1  # /metrics: agent_state_retries
    agent = await stored_agent(stores, agent_id)
    assert agent.consciousness_state == _expected_state(committed[0], TEXT)
    assert agent.state_version == 3
    assert answer["consciousnessState"]["sessions"] == committed[0]["sessions"] + 1 == 3
    rows = await stored_sessions(app, agent_id)
    [row] = [r for r in rows if str(r.row.request_id) == answer["requestId"]]
    assert row.row.consciousness_state == agent.consciousness_state
    assert row.texts.input_text.endswith("Mail me at [EMAIL].")


async def test_an_agent_deactivated_while_the_engine_ran_stores_nothing(
    caller: MakeCaller, stores: Stores, app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await caller("late")
    agent_id = await active_agent(owner)

    async def deactivate() -> None:
        async with stores.database.session() as session:
            await session.exec(
                update(Agent)
                .where(col(Agent.id) == uuid.UUID(agent_id))
                .values(status=AgentStatus.INACTIVE.value)
            )

    outcomes = _interfere(monkeypatch, 1, deactivate)
    retries = app.state.state_retries[PROCESS_PATH]
    error = only_error(await owner.send(PROCESS, input=process_input(agent_id, TEXT)))
    assert (error["extensions"]["code"], error["extensions"]["currentStatus"]) == (
        "BAD_USER_INPUT",
        "INACTIVE",
    )
    assert outcomes == [False]
    assert app.state.state_retries[PROCESS_PATH] == retries  # nothing was redone
    agent = await stored_agent(stores, agent_id)
    assert (agent.consciousness_state, agent.state_version) == ({}, 0)
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 0

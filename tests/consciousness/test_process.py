"""`process` end to end: the stored session and state, events, refusals, errors, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import engine
from auth.ratelimit import TIER_LIMITS
from core.enums import AgentStatus, Role, Tier
from db.models import ConsciousnessSession
from db.stores import Stores
from tests.apps import Running
from tests.consciousness.conftest import (
    PROCESS,
    MakeCaller,
    active_agent,
    count_rows,
    only_error,
    process_input,
    session_rows,
    stored_agent,
    stored_sessions,
)

EMAIL_INPUT = "Hi, I am planning a trip to Lisbon. Email me at jane.doe@example.com please."
THREAT = "I will kill you and your family tonight."
STATE = "query($id: UUID!) { consciousnessState(agentId: $id) { sessions awarenessLevel } }"


async def next_message(subscription: Any) -> dict[str, Any]:
    """The next payload (the broker yields plain dicts, or events carrying a `payload`)."""
    item = await asyncio.wait_for(anext(subscription), timeout=5)
    message: dict[str, Any] = getattr(item, "payload", item)
    return message


async def test_process_answers_stores_a_redacted_session_and_announces_it(
    caller: MakeCaller, stores: Stores, app: Running
) -> None:
    owner = await caller("traveller")
    agent_id = await active_agent(owner)
    before = await stored_agent(stores, agent_id)
    async with (
        stores.broker.subscribe(f"metrics:agent:{agent_id}") as metrics,
        stores.broker.subscribe(f"agent:{agent_id}:state") as states,
    ):
        data = await owner.ok(PROCESS, input=process_input(agent_id, EMAIL_INPUT))
        metric, state_event = await next_message(metrics), await next_message(states)
    answer = data["process"]
    assert answer["content"]
    assert "jane.doe" not in answer["content"]
    assert answer["decision"] == "FLAGGED"
    assert answer["consciousnessState"]["sessions"] == 1
    stages = [step["stage"] for step in answer["processingMetrics"]["reasoningChain"]]
    assert stages == [
        "prepare",
        "emotion",
        "ethics",
        "metacognition",
        "self_awareness",
        "composite",
        "state",
        "respond",
    ]
    assert answer["processingMetrics"]["responder"]["name"] == "reflective"
    assert answer["processingMetrics"]["inputChars"] == len(EMAIL_INPUT)
    assert 0 <= answer["confidenceLevel"] <= 1

    [(row, texts)] = [(s.row, s.texts) for s in await stored_sessions(app, agent_id)]
    assert str(row.request_id) == answer["requestId"]
    assert texts.input_text == "Hi, I am planning a trip to Lisbon. Email me at [EMAIL] please."
    assert "jane.doe" not in str(row.ethical_evaluation) + str(row.processing_metrics)
    assert texts.response_text == answer["content"]
    assert row.blocked is False
    assert row.consciousness_state["sessions"] == 1

    after = await stored_agent(stores, agent_id)
    assert after.consciousness_state == row.consciousness_state
    assert after.last_activity == row.created_at
    assert (after.version, after.updated_at) == (before.version, before.updated_at)

    assert metric["request_id"] == answer["requestId"]
    assert metric["agent_id"] == agent_id
    assert metric["error"] is False
    assert metric["violation_categories"] == ["PII"]
    assert state_event["request_id"] == answer["requestId"]
    assert state_event["state"]["sessions"] == 1


async def test_blocked_input_is_an_ethical_violation_and_a_refused_session(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("threatener")
    agent_id = await active_agent(owner)
    async with stores.broker.subscribe(f"metrics:agent:{agent_id}") as metrics:
        body = await owner.send(PROCESS, input=process_input(agent_id, THREAT))
        metric = await next_message(metrics)
    error = only_error(body)
    assert error["extensions"]["code"] == "ETHICAL_VIOLATION"
    violations = error["extensions"]["violations"]
    threat = next(v for v in violations if v["ruleId"] == "S1-threat-to-kill")
    assert threat["category"] == "S1"
    assert threat["severity"] == "HIGH"
    assert THREAT[threat["start"] : threat["end"]]
    [row] = await session_rows(stores, agent_id)
    assert row.blocked is True
    assert row.response_text is None  # nothing to seal
    assert str(row.request_id) == error["extensions"]["processRequestId"]
    agent = await stored_agent(stores, agent_id)
    assert agent.consciousness_state["sessions"] == 1
    assert agent.consciousness_state["violation_counts"]["S1"] == 1
    assert metric["blocked"] is True


@pytest.mark.parametrize(
    ("text", "context", "field"),
    [
        ("", None, "input"),
        ("   ", None, "input"),
        ("ok", [1, 2], "context"),
        ("ok", {"k": "x" * 5000}, "context"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    caller: MakeCaller, stores: Stores, text: str, context: object, field: str
) -> None:
    owner = await caller("sloppy")
    agent_id = await active_agent(owner)
    extra = {} if context is None else {"context": context}
    error = only_error(await owner.send(PROCESS, input=process_input(agent_id, text, **extra)))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 0


async def test_oversized_input_is_refused(
    caller: MakeCaller, stores: Stores, settings: Any
) -> None:
    owner = await caller("verbose")
    agent_id = await active_agent(owner)
    text = "a" * (settings.max_input_chars + 1)
    error = only_error(await owner.send(PROCESS, input=process_input(agent_id, text)))
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "input",
    )
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 0


async def test_inactive_agent_is_refused_naming_its_status(
    caller: MakeCaller, stores: Stores
) -> None:
    owner = await caller("idle")
    agent = await owner.create("sleeper")
    error = only_error(await owner.send(PROCESS, input=process_input(agent["id"], "hello there")))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["currentStatus"] == "INACTIVE"
    assert "INACTIVE" in error["message"]
    stored = await stored_agent(stores, agent["id"])
    assert stored.consciousness_state == {}
    assert stored.last_activity is None


async def test_unknown_and_foreign_agents_are_not_found(caller: MakeCaller, stores: Stores) -> None:
    owner, stranger = await caller("owner"), await caller("stranger")
    agent_id = await active_agent(owner)
    for who, target in ((owner, str(uuid.uuid4())), (stranger, agent_id)):
        error = only_error(await who.send(PROCESS, input=process_input(target, "hello there")))
        assert error["extensions"]["code"] == "NOT_FOUND"
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 0
    assert only_error(await stranger.send(STATE, id=agent_id))["extensions"]["code"] == "NOT_FOUND"


async def test_same_input_and_prior_state_give_the_same_content_and_state(
    caller: MakeCaller,
) -> None:
    owner = await caller("twin")
    first, second = await active_agent(owner, "one"), await active_agent(owner, "two")
    texts = ["I love how calm the sea is today.", "Why does everyone always ignore me?"]
    answers: dict[str, list[dict[str, Any]]] = {first: [], second: []}
    for agent_id in (first, second):
        for text in texts:
            data = await owner.ok(PROCESS, input=process_input(agent_id, text))
            answers[agent_id].append(data["process"])
    for a, b in zip(answers[first], answers[second], strict=True):
        assert a["content"] == b["content"]
        assert a["consciousnessState"] == b["consciousnessState"]
    assert answers[first][1]["consciousnessState"]["sessions"] == 2


async def test_engine_failure_puts_the_agent_in_error_and_is_masked(
    caller: MakeCaller, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await caller("unlucky")
    agent_id = await active_agent(owner)

    def explode(*_args: object) -> engine.EngineResult:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(engine, "process", explode)
    error = only_error(await owner.send(PROCESS, input=process_input(agent_id, "hello there")))
    assert error["extensions"]["code"] == "INTERNAL"
    assert "secret" not in error["message"]
    agent = await stored_agent(stores, agent_id)
    assert agent.status == AgentStatus.ERROR.value
    assert agent.consciousness_state == {}
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 0


async def test_process_calls_count_against_the_tier_limit(
    caller: MakeCaller, stores: Stores, app: Any
) -> None:
    limit = TIER_LIMITS[Tier.BASIC]
    assert limit is not None
    owner = await caller("metered", Role.USER, Tier.BASIC)
    agent_id = await active_agent(owner)
    limiter = app.state.rate_limiter
    for _ in range(limit.amount - 1):  # the first 99 calls, counted directly to save time
        assert (await limiter.hit_tier(str(owner.user_id), Tier.BASIC)).allowed
    assert "errors" not in await owner.send(PROCESS, input=process_input(agent_id, "call 100"))
    error = only_error(await owner.send(PROCESS, input=process_input(agent_id, "call 101")))
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] >= 1
    assert await count_rows(stores, ConsciousnessSession, agent_id) == 1

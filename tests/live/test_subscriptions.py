"""GraphQL subscriptions over real websockets against real servers, on both store columns."""

from __future__ import annotations

import pytest

from tests.live.client import Socket, register, until_live

AGENT_EVENTS = """subscription($agentId: UUID, $since: Int) {
  agentEvents(agentId: $agentId, since: $since) { sequence kind agentId ownerId status version }
}"""
METRICS = """subscription($agentId: UUID, $since: Int, $throttleMs: Int) {
  metrics(agentId: $agentId, since: $since, throttleMs: $throttleMs) {
    sequence coalesced agentId userId processingTimeMs awarenessLevel ethicalScore error
  }
}"""
STATE = """subscription($agentId: UUID!) {
  consciousnessStateChanged(agentId: $agentId) {
    sequence agentId requestId blocked state { sessions awarenessLevel }
  }
}"""
SUMMARY = """subscription($w: Int!) {
  metricsSummary(windowSeconds: $w) {
    sequence lastEventSequence windowSeconds count errorCount meanProcessingTimeMs
    p50ProcessingTimeMs p95ProcessingTimeMs p99ProcessingTimeMs meanAwarenessLevel
    meanEthicalScore
  }
}"""
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { id } }"
DEACTIVATE = "mutation($id: UUID!) { deactivateAgent(id: $id) { id } }"


def _codes(result: dict[str, object]) -> list[str]:
    errors = result.get("errors")
    assert isinstance(errors, list), result
    return [error["extensions"]["code"] for error in errors]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_agent_events_reach_the_owner_in_order(server_url: str, protocol: str) -> None:
    owner = await register(server_url)
    socket = await Socket.open(server_url, owner.token, protocol)
    try:
        await socket.subscribe("all", AGENT_EVENTS)
        agent_id = await owner.create_agent()
        await owner.activate(agent_id)
        created = await socket.data("agentEvents")
        changed = await socket.data("agentEvents")
        assert (created["kind"], created["agentId"], created["ownerId"]) == (
            "CREATED",
            agent_id,
            owner.id,
        )
        assert (changed["kind"], changed["status"]) == ("STATUS_CHANGED", "ACTIVE")
        assert changed["sequence"] == created["sequence"] + 1
    finally:
        await socket.close()


async def test_a_user_never_sees_another_users_agents(server_url: str) -> None:
    alice, bob = await register(server_url), await register(server_url)
    bobs_agent = await bob.create_agent("bobs")
    socket = await Socket.open(server_url, alice.token, "graphql-transport-ws")
    try:
        await socket.subscribe("other", AGENT_EVENTS, agentId=bobs_agent)
        assert _codes(await socket.next()) == ["NOT_FOUND"]
        await socket.subscribe("mine", AGENT_EVENTS)
        await bob.activate(bobs_agent)
        alices_agent = await alice.create_agent("alices")
        event = await socket.data("agentEvents")
        assert (event["agentId"], event["ownerId"]) == (alices_agent, alice.id)
    finally:
        await socket.close()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_subscribing_without_a_token_is_unauthenticated(
    server_url: str, protocol: str
) -> None:
    socket = await Socket.open(server_url, None, protocol)
    try:
        await socket.subscribe("1", AGENT_EVENTS)
        assert _codes(await socket.next()) == ["UNAUTHENTICATED"]
        await socket.subscribe("2", SUMMARY, w=60)
        assert _codes(await socket.next()) == ["UNAUTHENTICATED"]
    finally:
        await socket.close()


async def test_resuming_with_since_misses_nothing_and_repeats_nothing(server_url: str) -> None:
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("1", AGENT_EVENTS, agentId=agent_id)
        await owner.activate(agent_id)
        last = (await socket.data("agentEvents"))["sequence"]
    finally:
        await socket.close()
    for mutation in (DEACTIVATE, ACTIVATE, DEACTIVATE):  # while the dashboard is away
        await owner.ok(mutation, id=agent_id)
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("2", AGENT_EVENTS, agentId=agent_id, since=last)
        missed = [await socket.data("agentEvents") for _ in range(3)]
        await owner.ok(ACTIVATE, id=agent_id)
        live = await socket.data("agentEvents")
        sequences = [event["sequence"] for event in [*missed, live]]
        assert sequences == [last + 1, last + 2, last + 3, last + 4]
        assert [event["status"] for event in [*missed, live]] == [
            "INACTIVE",
            "ACTIVE",
            "INACTIVE",
            "ACTIVE",
        ]
    finally:
        await socket.close()


async def test_metrics_state_and_summary_follow_processed_requests(server_url: str) -> None:
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    await owner.activate(agent_id)
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("mine", METRICS)
        await socket.subscribe("agent", METRICS, agentId=agent_id)
        await socket.subscribe("state", STATE, agentId=agent_id)
        subscribed = {socket: {"mine", "agent", "state"}}
        probes = await until_live(lambda: owner.process(agent_id), subscribed)
        await owner.process(agent_id)
        results = await socket.data_by_id(3)
        sequence = probes + 1
        for key in ("mine", "agent"):
            row = results[key]["metrics"]
            assert (row["sequence"], row["agentId"]) == (sequence, agent_id)
            assert row["userId"] == owner.id
            assert row["coalesced"] == 0
            assert row["processingTimeMs"] > 0
        state = results["state"]["consciousnessStateChanged"]
        assert (state["sequence"], state["agentId"], state["state"]["sessions"]) == (
            sequence,
            agent_id,
            sequence,
        )
    finally:
        await socket.close()


async def test_metrics_summary_pushes_rolling_statistics_every_second(server_url: str) -> None:
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    await owner.activate(agent_id)
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("s", SUMMARY, w=60)
        first = await socket.data("metricsSummary")
        assert (first["sequence"], first["count"], first["p50ProcessingTimeMs"]) == (1, 0, None)
        await owner.process(agent_id)
        await owner.process(agent_id, "What a wonderful day to learn something new.")
        for _ in range(5):  # one push a second: the two rows arrive within a few
            summary = await socket.data("metricsSummary")
            if summary["count"] == 2:
                break
        assert (summary["count"], summary["errorCount"], summary["lastEventSequence"]) == (2, 0, 2)
        assert 0 < summary["p50ProcessingTimeMs"] <= summary["p99ProcessingTimeMs"]
        assert 0 <= summary["meanAwarenessLevel"] <= 1
    finally:
        await socket.close()


async def test_throttled_metrics_send_the_latest_and_count_the_rest(server_url: str) -> None:
    owner = await register(server_url)
    agent_id = await owner.create_agent()
    await owner.activate(agent_id)
    socket = await Socket.open(server_url, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("t", METRICS, throttleMs=3000)
        for _ in range(4):
            await owner.process(agent_id)
        first = await socket.data("metrics")
        second = await socket.data("metrics")
        assert (first["sequence"], first["coalesced"]) == (1, 0)
        assert (second["sequence"], second["coalesced"]) == (4, 2)
    finally:
        await socket.close()


async def test_events_cross_between_server_processes(live_servers: tuple[str, str]) -> None:
    first, second = live_servers
    owner = await register(first)
    socket = await Socket.open(second, owner.token, "graphql-transport-ws")
    try:
        await socket.subscribe("x", AGENT_EVENTS)
        agent_id = await owner.create_agent()
        await owner.activate(agent_id)
        created = await socket.data("agentEvents")
        changed = await socket.data("agentEvents")
        assert [created["kind"], changed["kind"]] == ["CREATED", "STATUS_CHANGED"]
        assert created["agentId"] == changed["agentId"] == agent_id
    finally:
        await socket.close()

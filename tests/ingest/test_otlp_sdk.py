"""GenAI spans sent by the OpenTelemetry SDK's OTLP/HTTP exporter to a running server end
as sessions of their agents, metrics rows and live metrics events."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.sdk.trace.export import SpanExportResult

from db.stores import Stores
from tests.ingest.conftest import (
    MakeCaller,
    Metrics,
    chat_attributes,
    export,
    make_key,
    sdk_spans,
)
from tests.live.client import Socket
from tests.support import wait_until

AGENTS = "{ agents(first: 50) { edges { node { id name status } } } }"
SESSIONS = """query($a: UUID!) { consciousnessSessions(agentId: $a) { totalCount edges { node {
  input response blocked processingTimeMs context
  violations { category } responseViolations { category }
  evaluation { name scoreValue scoreLabel explanation traceId spanId } } } } }"""
METRICS = """subscription($since: Int) { metrics(since: $since) {
  sequence agentId source model provider inputTokens outputTokens traceId spanId
  processingTimeMs ethicalScore } }"""
PROMPT = "Plan a weekend in Lisbon for me; my email is ada.lovelace@example.org."
ANSWER = "Happy to help! I will send the plan to ada.lovelace@example.org tonight."


async def _sessions(owner: Any, agent_id: str, count: int) -> dict[str, Any]:
    """The agent's sessions, once the ingestion worker has stored `count` of them."""
    found: dict[str, Any] = {}

    async def stored() -> bool:
        found.update((await owner.ok(SESSIONS, a=agent_id))["consciousnessSessions"])
        return len(found["edges"]) == count

    await wait_until(stored, f"{count} sessions of agent {agent_id}", within=15)
    return found


async def _agents(owner: Any) -> dict[str, dict[str, Any]]:
    edges = (await owner.ok(AGENTS))["agents"]["edges"]
    return {edge["node"]["name"]: edge["node"] for edge in edges}


async def test_sdk_exported_genai_spans_become_sessions_metrics_and_live_events(
    caller: MakeCaller, served: str, stores: Stores, metrics: Metrics
) -> None:
    ada = await caller("ada")
    metrics.track(ada.user_id)
    key = (await make_key(ada))["key"]
    spans = sdk_spans(
        "travel-agent",
        [
            chat_attributes(PROMPT, ANSWER, **{"vendor.unknown.attribute": "kept out"}),
            chat_attributes(
                "How do I reset my router?",
                "Hold the reset button for ten seconds.",
                current=False,
                **{"gen_ai.agent.name": "helpdesk"},
            ),
        ],
        plain=2,
    )
    assert await export(served, key, spans) is SpanExportResult.SUCCESS

    agents = await _agents(ada)
    assert set(agents) == {"travel-agent", "helpdesk"}
    assert {agent["status"] for agent in agents.values()} == {"ACTIVE"}
    travel = await _sessions(ada, agents["travel-agent"]["id"], 1)
    session = travel["edges"][0]["node"]
    assert "ada.lovelace@example.org" not in session["input"]
    assert "Lisbon" in session["input"]
    assert "ada.lovelace@example.org" not in session["response"]
    assert session["response"].startswith("Happy to help!")
    assert "PII" in {v["category"] for v in session["violations"]}
    assert session["context"]["source"] == "otlp"
    assert session["context"]["model"] == "gpt-4o-mini"
    sent = {span.context.span_id: span for span in spans}
    verdict = session["evaluation"]
    assert (verdict["name"], verdict["scoreLabel"]) == ("consciousness.ethics", "flagged")
    assert "PII" in verdict["explanation"]
    assert 0 <= verdict["scoreValue"] < 1
    assert int(verdict["spanId"], 16) in sent
    assert int(verdict["traceId"], 16) == sent[int(verdict["spanId"], 16)].context.trace_id
    helpdesk = await _sessions(ada, agents["helpdesk"]["id"], 1)
    assert helpdesk["edges"][0]["node"]["response"] == "Hold the reset button for ten seconds."
    assert helpdesk["edges"][0]["node"]["evaluation"]["scoreLabel"] == "answered"

    async def rows() -> list[tuple[Any, ...]]:
        return await stores.analytics.query_rows(
            "SELECT source, model, provider, input_tokens, output_tokens, trace_id, span_id,"
            " processing_time_ms FROM consciousness_metrics WHERE user_id = {u:UUID}"
            " ORDER BY model",
            {"u": ada.user_id},
        )

    await wait_until(lambda: _count(rows(), 2), "the metrics rows reach ClickHouse", within=15)
    stored = await rows()
    assert [row[:5] for row in stored] == [
        ("otlp", "claude-3-haiku", "anthropic", 11, 5),
        ("otlp", "gpt-4o-mini", "openai", 42, 7),
    ]
    for row in stored:
        span = sent[int(row[6], 16)]
        assert row[5] == format(span.context.trace_id, "032x")
        assert span.end_time is not None
        assert span.start_time is not None
        assert abs(row[7] - (span.end_time - span.start_time) / 1e6) < 1e-6

    socket = await Socket.open(served, ada.headers["Authorization"][7:], "graphql-transport-ws")
    try:
        await socket.subscribe("m", METRICS, since=0)
        events = [await socket.data("metrics") for _ in range(2)]
    finally:
        await socket.close()
    assert {(e["source"], e["model"], e["inputTokens"]) for e in events} == {
        ("otlp", "gpt-4o-mini", 42),
        ("otlp", "claude-3-haiku", 11),
    }
    assert {e["agentId"] for e in events} == {a["id"] for a in agents.values()}


async def _count(rows: Any, wanted: int) -> bool:
    return len(await rows) == wanted


async def test_spans_of_a_known_agent_go_to_it(caller: MakeCaller, served: str) -> None:
    ada = await caller("ada")
    key = (await make_key(ada))["key"]
    for _ in range(2):
        spans = sdk_spans("svc", [chat_attributes("What is two plus two?", "Four.")])
        assert await export(served, key, spans) is SpanExportResult.SUCCESS
    agents = await _agents(ada)
    assert list(agents) == ["svc"]
    await _sessions(ada, agents["svc"]["id"], 2)


async def test_another_users_key_feeds_only_their_agents(caller: MakeCaller, served: str) -> None:
    ada, bob = await caller("ada"), await caller("bob")
    await ada.create("svc")
    key = (await make_key(bob))["key"]
    spans = sdk_spans("svc", [chat_attributes("Hello there, how are you?", "Fine.")])
    assert await export(served, key, spans) is SpanExportResult.SUCCESS
    assert (await _agents(bob))["svc"]["status"] == "ACTIVE"
    assert (await _agents(ada))["svc"]["status"] == "INACTIVE"
    assert uuid.UUID((await _agents(bob))["svc"]["id"]) != uuid.UUID(
        (await _agents(ada))["svc"]["id"]
    )


async def test_a_session_of_process_has_no_evaluation_record(caller: MakeCaller) -> None:
    ada = await caller("ada")
    agent = await ada.create("direct")
    await ada.ok("mutation($id: UUID!) { activateAgent(id: $id) { id } }", id=agent["id"])
    await ada.ok(
        "mutation($i: ProcessInput!) { process(input: $i) { requestId } }",
        i={"agentId": agent["id"], "input": "Hello, how are you?", "context": {"source": "otlp"}},
    )
    (edge,) = (await ada.ok(SESSIONS, a=agent["id"]))["consciousnessSessions"]["edges"]
    assert edge["node"]["evaluation"] is None  # a client's context cannot claim one

"""The ingestion queue: bounded (429 with Retry-After when full, nothing written), and
durable (spans acknowledged by a process that stops are analysed by another)."""

from __future__ import annotations

import httpx
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from sqlmodel import func, select

from core.settings import Settings
from db.models import ConsciousnessSession, IngestQueue
from db.stores import Stores
from server.app import create_app
from tests.agents.conftest import Caller
from tests.apps import AppClient, running
from tests.ingest.conftest import MakeCaller, chat_attributes, make_key, sdk_spans
from tests.support import error_codes, register, wait_until

PROTOBUF = {"content-type": "application/x-protobuf"}


def _body(question: str, agent: str = "queued-agent") -> bytes:
    spans = sdk_spans(agent, [chat_attributes(question, "An answer.")])
    body: bytes = encode_spans(spans).SerializeToString()
    return body


async def _count(stores: Stores, model: type[IngestQueue] | type[ConsciousnessSession]) -> int:
    async with stores.database.read() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_a_full_queue_answers_429_with_retry_after_and_writes_nothing(
    app_with: AppClient,
) -> None:
    async with app_with(ingest_worker=False, ingest_queue_max_spans=1) as (client, stores):
        ada = Caller(client, await register(client, "ada"))
        key = {"x-api-key": (await make_key(ada))["key"]}
        first = await client.post("/v1/traces", content=_body("First?"), headers=PROTOBUF | key)
        assert first.status_code == 200
        second = _body("Second?", agent="another-agent")
        full = await client.post("/v1/traces", content=second, headers=PROTOBUF | key)
        assert full.status_code == 429
        assert full.headers["retry-after"] == "2"
        status = status_pb2.Status()
        status.ParseFromString(full.content)
        assert "wait for analysis" in status.message
        assert await _count(stores, IngestQueue) == 1
        assert await _count(stores, ConsciousnessSession) == 0
        agents = (await ada.ok("{ agents { edges { node { name } } } }"))["agents"]["edges"]
        assert [edge["node"]["name"] for edge in agents] == ["queued-agent"]


async def test_spans_acknowledged_by_a_process_that_stops_are_analysed_by_another(
    settings: Settings, caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    ada = await caller("ada")
    key = {"x-api-key": (await make_key(ada))["key"]}
    front = create_app(settings.model_copy(update={"ingest_worker": False}))
    async with running(front) as started:
        transport = httpx.ASGITransport(app=started.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://front") as http:
            answer = await http.post(
                "/v1/traces", content=_body("Will this survive?"), headers=PROTOBUF | key
            )
            assert answer.status_code == 200
    # The front process has stopped; the session's app analyses what it acknowledged.

    async def analysed() -> bool:
        queued = await _count(stores, IngestQueue)
        return queued == 0 and await _count(stores, ConsciousnessSession) == 1

    await wait_until(analysed, "the other process analyses the queued span", within=15)


async def test_spans_count_against_the_owners_tier_and_a_refused_request_writes_nothing(
    app_with: AppClient,
) -> None:
    # A BASIC account: 100 consciousness operations an hour, each GenAI span one of them.
    async with app_with(ingest_worker=False) as (client, stores):
        ada = Caller(client, await register(client, "ada"))
        key = {"x-api-key": (await make_key(ada))["key"]}

        def body(count: int, agent: str) -> bytes:
            calls = [chat_attributes(f"Question {n}?", "An answer.") for n in range(count)]
            encoded: bytes = encode_spans(sdk_spans(agent, calls)).SerializeToString()
            return encoded

        taken = await client.post("/v1/traces", content=body(60, "first"), headers=PROTOBUF | key)
        assert taken.status_code == 200
        refused = await client.post(
            "/v1/traces", content=body(60, "second"), headers=PROTOBUF | key
        )
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        status = status_pb2.Status()
        status.ParseFromString(refused.content)
        assert status.message == (
            "the basic tier allows 100 consciousness operations per hour (one per GenAI span);"
            " 40 left, 60 sent"
        )
        assert await _count(stores, IngestQueue) == 1  # the first request's batch only
        agents = (await ada.ok("{ agents { edges { node { id name } } } }"))["agents"]["edges"]
        assert [edge["node"]["name"] for edge in agents] == ["first"]
        rest = await client.post("/v1/traces", content=body(40, "first"), headers=PROTOBUF | key)
        assert rest.status_code == 200  # what is left of the hour is still there
        # The same budget as process calls: the hour is spent for those too.
        [agent] = [edge["node"]["id"] for edge in agents]
        spent = await ada.send(
            "mutation($input: ProcessInput!) { process(input: $input) { requestId } }",
            input={"agentId": agent, "input": "One more?"},
        )
        assert error_codes(spent) == ["RATE_LIMITED"]

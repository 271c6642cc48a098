"""/v1/traces on bad and partial input: each refusal has the OTLP/HTTP status and a
google.rpc.Status body, and stores nothing; partial success says what was left out.
The bodies are encoded by the SDK's own encoder, or written as OTLP/JSON by hand."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import orjson
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlmodel import func, select

from db.models import Agent, ConsciousnessSession, IngestQueue, MetricsOutbox
from db.stores import Stores
from tests.ingest.conftest import (
    LIST_KEYS,
    REVOKE_KEY,
    Caller,
    MakeCaller,
    chat_attributes,
    make_key,
    sdk_spans,
)
from tests.support import wait_until

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
PAUSE = "mutation($id: UUID!) { pauseAgent(id: $id) { status } }"
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { status } }"


def _protobuf(*args: Any, **kwargs: Any) -> bytes:
    body: bytes = encode_spans(sdk_spans(*args, **kwargs)).SerializeToString()
    return body


def _answer(response: httpx.Response) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.content
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    return answer


def _status(response: httpx.Response) -> str:
    status = status_pb2.Status()
    if response.headers["content-type"].startswith("application/json"):
        return str(orjson.loads(response.content)["message"])
    status.ParseFromString(response.content)
    return str(status.message)


async def _stored(stores: Stores) -> tuple[int, int, int, int]:
    """Agents, sessions, staged metrics rows and queued batches."""
    async with stores.database.read() as session:
        counts = [
            (await session.exec(select(func.count()).select_from(model))).one()
            for model in (Agent, ConsciousnessSession, MetricsOutbox, IngestQueue)
        ]
    return counts[0], counts[1], counts[2], counts[3]


async def _analysed(stores: Stores, agents: int, sessions: int) -> None:
    """Wait until the worker has emptied the queue into `sessions` sessions."""

    async def done() -> bool:
        counts = await _stored(stores)
        return counts[0] == agents and counts[1] == sessions and counts[3] == 0

    await wait_until(done, f"{sessions} sessions stored", within=15)


async def _keyed(caller: MakeCaller) -> tuple[Caller, dict[str, str]]:
    ada = await caller("ada")
    return ada, {"x-api-key": (await make_key(ada))["key"]}


async def test_spans_without_genai_attributes_are_ignored_and_counted(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    _, key = await _keyed(caller)
    body = _protobuf("svc", [], plain=3)
    answer = _answer(await client.post("/v1/traces", content=body, headers=PROTOBUF | key))
    assert answer.partial_success.rejected_spans == 0
    assert "3 spans without gen_ai attributes were ignored" in answer.partial_success.error_message
    assert await _stored(stores) == (0, 0, 0, 0)


async def test_a_genai_span_without_input_is_rejected_and_the_others_stored(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    _, key = await _keyed(caller)
    calls = [
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
        chat_attributes("Is the museum open on Monday?", "Yes, from ten."),
    ]
    answer = _answer(
        await client.post("/v1/traces", content=_protobuf("svc", calls), headers=PROTOBUF | key)
    )
    assert answer.partial_success.rejected_spans == 1
    assert "no input messages" in answer.partial_success.error_message
    await _analysed(stores, agents=1, sessions=1)


async def test_spans_of_a_paused_agent_are_rejected(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    ada, key = await _keyed(caller)
    agent = await ada.create("svc")
    await ada.ok(ACTIVATE, id=agent["id"])
    await ada.ok(PAUSE, id=agent["id"])
    body = _protobuf("svc", [chat_attributes("Hello, what can you do?", "Many things.")])
    answer = _answer(await client.post("/v1/traces", content=body, headers=PROTOBUF | key))
    assert answer.partial_success.rejected_spans == 1
    assert "PAUSED" in answer.partial_success.error_message
    assert await _stored(stores) == (1, 0, 0, 0)


async def test_otlp_json_with_hex_ids_is_accepted(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    ada, key = await _keyed(caller)
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "hand-written"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661250000000",
                                "unknownField": {"ignored": True},
                                "attributes": [
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "x"}},
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "12"},
                                    },
                                    {
                                        "key": "gen_ai.input.messages",
                                        "value": {
                                            "stringValue": '[{"role":"user","parts":[{"type":'
                                            '"text","content":"Which train goes to Porto?"}]}]'
                                        },
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = await client.post("/v1/traces", content=orjson.dumps(document), headers=JSON | key)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert orjson.loads(response.content) == {}
    await _analysed(stores, agents=1, sessions=1)
    # The app's writer may have drained the row already: flush the rest, read ClickHouse.
    assert stores.metrics_writer is not None
    assert await stores.metrics_writer.flush()
    rows = await stores.analytics.query_rows(
        "SELECT trace_id, span_id, input_tokens, processing_time_ms"
        " FROM consciousness_metrics WHERE user_id = {u:UUID}",
        {"u": ada.user_id},
    )
    assert rows == [("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", 12, 1250.0)]


async def test_bad_requests_get_their_otlp_status_and_store_nothing(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    ada, key = await _keyed(caller)
    good = _protobuf("svc", [chat_attributes("What time is it in Tokyo?", "Nine.")])
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("malformed protobuf", b"\x0a\xff\xff\xff\x0f", PROTOBUF | key, 400, "not an Export"),
        ("not JSON", b"{nope", JSON | key, 400, "not JSON"),
        (
            "bad hex id",
            b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
            JSON | key,
            400,
            "not hex",
        ),
        ("wrong content type", good, {"content-type": "text/plain"} | key, 415, "Content-Type"),
        ("brotli", good, PROTOBUF | key | {"content-encoding": "br"}, 415, "gzip"),
        (
            "corrupt gzip",
            b"\x1f\x8bnot gzip",
            PROTOBUF | key | {"content-encoding": "gzip"},
            400,
            "gzip",
        ),
        ("no key", good, PROTOBUF, 401, "API key"),
        ("unknown key", good, PROTOBUF | {"x-api-key": "cak_0000_nope"}, 401, "unknown"),
        ("a JWT is not a key", good, PROTOBUF | ada.headers, 401, "not an API key"),
        (
            "gzip bomb",
            gzip.compress(b"\0" * (2 * 1024 * 1024)),
            PROTOBUF | key | {"content-encoding": "gzip"},
            413,
            "decompressed",
        ),
        ("too many spans", _protobuf("svc", [], plain=1001), PROTOBUF | key, 413, "1001 spans"),
        ("raw body too large", b"\0" * (1024 * 1024 + 1), PROTOBUF | key, 413, ""),
    ]
    for name, body, headers, status, message in cases:
        response = await client.post("/v1/traces", content=body, headers=headers)
        assert response.status_code == status, (name, response.content)
        if message:
            assert message in _status(response), (name, _status(response))
    assert await _stored(stores) == (0, 0, 0, 0)


async def test_a_revoked_key_is_forbidden_and_stores_nothing(
    caller: MakeCaller, client: httpx.AsyncClient, stores: Stores
) -> None:
    ada = await caller("ada")
    created = await make_key(ada)
    await ada.ok(REVOKE_KEY, id=created["apiKey"]["id"])
    body = _protobuf("svc", [chat_attributes("Any news today?", "Not yet.")])
    for headers in ({"x-api-key": created["key"]}, {"authorization": f"Bearer {created['key']}"}):
        response = await client.post("/v1/traces", content=body, headers=PROTOBUF | headers)
        assert response.status_code == 403
        assert "revoked" in _status(response)
    assert await _stored(stores) == (0, 0, 0, 0)


async def test_a_good_key_records_its_last_use(
    caller: MakeCaller, client: httpx.AsyncClient
) -> None:
    ada = await caller("ada")
    created = await make_key(ada)
    body = _protobuf("svc", [], plain=1)
    headers = PROTOBUF | {"authorization": f"Bearer {created['key']}"}
    _answer(await client.post("/v1/traces", content=body, headers=headers))
    (listed,) = (await ada.ok(LIST_KEYS))["apiKeys"]
    assert listed["lastUsedAt"] is not None

"""The official OpenAI instrumentation (opentelemetry-instrumentation-openai-v2) traces the
`openai` client calling a local fake OpenAI-compatible endpoint; the SDK exports its spans
to /v1/traces, and the call shows up as a session with its model, tokens and verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.stores import Stores
from tests.apps import uvicorn_serving
from tests.ingest.conftest import MakeCaller, Metrics, make_key
from tests.support import wait_until

ANSWER = "Pack light: a raincoat, walking shoes and a paper map."
MODEL = "gpt-4o-mini-2024-07-18"
SESSIONS = """query($a: UUID!) { consciousnessSessions(agentId: $a) { edges { node {
  input response blocked violations { category } responseViolations { category } } } } }"""


async def _chat_completions(request: Request) -> Response:
    """What an OpenAI-compatible server answers to POST /v1/chat/completions."""
    asked = await request.json()
    return JSONResponse(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL if asked["model"] == "gpt-4o-mini" else asked["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
        }
    )


@pytest.fixture
async def fake_openai() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/v1/chat/completions", _chat_completions, methods=["POST"])])
    async with uvicorn_serving(app) as url:
        yield f"{url}/v1"


async def test_an_instrumented_openai_call_becomes_a_session(
    caller: MakeCaller,
    served: str,
    fake_openai: str,
    stores: Stores,
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada = await caller("ada")
    metrics.track(ada.user_id)
    key = (await make_key(ada))["key"]
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
    exporter = OTLPSpanExporter(endpoint=f"{served}/v1/traces", headers={"x-api-key": key})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:

        def ask() -> Any:  # the client and the exporter block: a worker thread
            client = openai.OpenAI(base_url=fake_openai, api_key="not-a-real-key")
            return client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": "You plan trips."},
                    {"role": "user", "content": "What should I pack for Dublin? I'm at 555-0100."},
                ],
            )

        completion = await asyncio.to_thread(ask)
    finally:
        instrumentor.uninstrument()
        await asyncio.to_thread(provider.shutdown)
    assert completion.choices[0].message.content == ANSWER

    agents = (await ada.ok("{ agents { edges { node { id name } } } }"))["agents"]["edges"]
    assert [edge["node"]["name"] for edge in agents] == ["trip-planner"]
    agent_id = agents[0]["node"]["id"]
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        edges = (await ada.ok(SESSIONS, a=agent_id))["consciousnessSessions"]["edges"]
        found[:] = [edge["node"] for edge in edges]
        return len(found) == 1

    await wait_until(stored, "the instrumented call's session", within=15)
    session = found[0]
    assert "What should I pack for Dublin?" in session["input"]
    assert "You plan trips." not in session["input"]  # the user's turn is what is analysed
    assert session["response"] == ANSWER
    assert session["blocked"] is False

    async def row() -> list[Any]:
        return await stores.analytics.query_rows(
            "SELECT source, model, provider, input_tokens, output_tokens"
            " FROM consciousness_metrics WHERE user_id = {u:UUID}",
            {"u": ada.user_id},
        )

    await wait_until(lambda: _has_rows(row()), "the call's metrics row", within=15)
    assert await row() == [("otlp", MODEL, "openai", 21, 9)]


async def _has_rows(rows: Any) -> bool:
    return bool(await rows)

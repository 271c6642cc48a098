"""Signed-in users with ingestion keys, the session's app on a real port, and GenAI spans
made and exported by the OpenTelemetry SDK (a client not written here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.agents.conftest import Caller, MakeCaller, caller, count_rows
from tests.analytics.conftest import Metrics, metrics
from tests.apps import Running, app_with, uvicorn_serving
from tests.auth.conftest import SignIn, sign_in

__all__ = [
    "Caller",
    "MakeCaller",
    "Metrics",
    "SignIn",
    "app_with",
    "caller",
    "count_rows",
    "metrics",
    "sign_in",
]

API_KEY_FIELDS = "id name prefix createdAt lastUsedAt revokedAt"
CREATE_KEY = f"""
mutation($name: String!) {{ createApiKey(name: $name) {{ key apiKey {{ {API_KEY_FIELDS} }} }} }}
"""
LIST_KEYS = f"{{ apiKeys {{ {API_KEY_FIELDS} }} }}"
REVOKE_KEY = f"mutation($id: UUID!) {{ revokeApiKey(id: $id) {{ {API_KEY_FIELDS} }} }}"


async def make_key(owner: Caller, name: str = "collector") -> dict[str, Any]:
    """A new key of `owner`: `{key, apiKey}`."""
    created: dict[str, Any] = (await owner.ok(CREATE_KEY, name=name))["createApiKey"]
    return created


@pytest.fixture
async def served(app: Running) -> AsyncIterator[str]:
    """The session's app behind uvicorn on a free port (real sockets for the SDK's exporter)."""
    async with uvicorn_serving(app.asgi) as url:
        yield url


def chat_attributes(
    prompt: str, answer: str | None, *, current: bool = True, **extra: Any
) -> dict[str, Any]:
    """A chat call's GenAI attributes, in the current conventions or the deprecated ones."""
    if current:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 42,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.input.messages": (
                '[{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},'
                ' {"role": "user", "parts": [{"type": "text", "content": '
                + _json_string(prompt)
                + "}]}]"
            ),
        }
        if answer is not None:
            attributes["gen_ai.output.messages"] = (
                '[{"role": "assistant", "parts": [{"type": "text", "content": '
                + _json_string(answer)
                + '}], "finish_reason": "stop"}]'
            )
    else:
        attributes = {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-haiku",
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 5,
            "gen_ai.prompt": prompt,
        }
        if answer is not None:
            attributes["gen_ai.completion"] = answer
    return attributes | extra


def _json_string(text: str) -> str:
    import json

    return json.dumps(text)


def sdk_spans(service: str, calls: Sequence[dict[str, Any]], plain: int = 0) -> list[ReadableSpan]:
    """Spans made by the SDK's tracer: one CLIENT span per attributes dict of `calls`, then
    `plain` spans without GenAI attributes, all of one resource named `service`."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.ingest")
    for attributes in calls:
        with tracer.start_as_current_span("chat", kind=SpanKind.CLIENT, attributes=attributes):
            pass
    for index in range(plain):
        with tracer.start_as_current_span(f"db query {index}", attributes={"db.system": "pg"}):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


async def export(url: str, key: str, spans: Sequence[ReadableSpan]) -> SpanExportResult:
    """Send `spans` with the SDK's OTLP/HTTP protobuf exporter, gzip on, in a worker thread
    (the exporter blocks; the server runs on this event loop)."""
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces",
        headers={"x-api-key": key},
        compression=Compression.Gzip,
        timeout=30,
    )
    try:
        return await asyncio.to_thread(exporter.export, spans)
    finally:
        exporter.shutdown()

"""Tracing, /metrics and request logs, through the real app and its real stores."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from core.settings import ConfigurationError, Settings, load_settings
from server.app import create_app
from server.observability import JsonFormatter, TraceContext, redact_secrets
from tests.apps import running
from tests.conftest import empty_tables
from tests.support import LOGIN, PASSWORD, bearer, error_codes, graphql, register, wait_until

CREATE_AGENT = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }"
ACTIVATE = "mutation($id: UUID!) { activateAgent(id: $id) { id } }"
PROCESS = """
mutation Think($input: ProcessInput!) {
  process(input: $input) { requestId content processingMetrics { reasoningChain { stage } } }
}"""
REFRESH = "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }"


@dataclass
class Traced:
    client: httpx.AsyncClient
    spans: InMemorySpanExporter
    settings: Settings


@pytest.fixture
async def traced(settings: Settings) -> AsyncIterator[Traced]:
    """An app with tracing on, exporting into memory, on the same stores as `app`."""
    exporter = InMemorySpanExporter()
    async with running(create_app(settings, span_exporter=exporter)) as application:
        transport = httpx.ASGITransport(app=application.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Traced(http, exporter, settings)
        await empty_tables(application.state.stores)
        await application.state.rate_limiter.clear()


async def active_agent(client: httpx.AsyncClient, token: str) -> str:
    variables = {"input": {"name": "tracer", "agentType": "ANALYTICAL"}}
    body = await graphql(client, CREATE_AGENT, variables, headers=bearer(token))
    agent_id: str = body["data"]["createAgent"]["id"]  # type: ignore[index]
    body = await graphql(client, ACTIVATE, {"id": agent_id}, headers=bearer(token))
    assert "errors" not in body, body
    return agent_id


def spans_of_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def attribute_text(spans: list[ReadableSpan] | tuple[ReadableSpan, ...]) -> str:
    return " ".join(f"{s.name} {dict(s.attributes or {})}" for s in spans)


async def test_one_trace_holds_the_request_resolver_engine_and_store_spans(
    traced: Traced,
) -> None:
    user = await register(traced.client, "tracy")
    agent_id = await active_agent(traced.client, user["accessToken"])
    traced.spans.clear()

    body = await graphql(
        traced.client,
        PROCESS,
        {"input": {"agentId": agent_id, "input": "I am glad the garden is growing well."}},
        headers=bearer(user["accessToken"]),
    )
    assert "errors" not in body, body

    spans = traced.spans.get_finished_spans()
    resolver = next(s for s in spans if s.name == "GraphQL Resolving: process")
    assert resolver.context is not None
    trace = spans_of_trace(spans, resolver.context.trace_id)
    names = [s.name for s in trace]
    roots = [s for s in trace if s.parent is None]
    assert len(roots) == 1
    assert roots[0].kind is SpanKind.SERVER  # the ASGI request span
    assert "GraphQL Query: Think" in names
    engine_span = next(s for s in trace if s.name == "engine.process")
    assert engine_span.parent is not None
    assert engine_span.parent.span_id == resolver.context.span_id
    stages = [s for s in trace if s.name.startswith("engine.stage.")]
    assert [s.name.removeprefix("engine.stage.") for s in stages] == [
        "prepare",
        "emotion",
        "ethics",
        "metacognition",
        "self_awareness",
        "composite",
        "state",
        "respond",
    ]
    assert engine_span.context is not None
    assert all(s.parent and s.parent.span_id == engine_span.context.span_id for s in stages)
    sql = [s for s in trace if (s.attributes or {}).get("db.system") in {"sqlite", "postgresql"}]
    # The session's write: UPDATE and INSERT, or on PostgreSQL one WITH … INSERT statement.
    assert any(s.name.split()[0] in {"UPDATE", "INSERT", "WITH"} for s in sql), names
    # The agent's state read first; on PostgreSQL both run past SQLAlchemy (db/direct.py).
    assert any(s.name.split()[0] == "SELECT" for s in sql), names
    text = attribute_text(trace)
    assert "garden" not in text  # what the client wrote stays out of the spans
    assert agent_id in text  # ids stay, to find the request

    # Every span of the request is in the one trace: none started a trace of its own. (The
    # state and metrics events are published after the response, by the process's
    # publisher (db/publisher.py): with Redis, those commands are spans of their own.)
    def redis(span: Any) -> bool:
        return (span.attributes or {}).get("db.system") == "redis"

    assert len({s.context.trace_id for s in spans if s.context and not redis(s)}) == 1
    if traced.settings.redis_url:
        await wait_until(
            lambda: any(redis(s) for s in traced.spans.get_finished_spans()),
            "the events were published through Redis after the response",
        )


async def test_errors_carry_the_trace_id_and_no_span_holds_a_secret(traced: Traced) -> None:
    user = await register(traced.client, "secretive")
    inline_login = (
        f'mutation {{ login(username: "secretive", password: "{PASSWORD}") {{ accessToken }} }}'
    )
    assert "errors" not in await graphql(traced.client, inline_login)
    body = await graphql(traced.client, LOGIN, {"username": "secretive", "password": PASSWORD})
    refresh = body["data"]["login"]["refreshToken"]  # type: ignore[index]
    assert "errors" not in await graphql(traced.client, REFRESH, {"t": refresh})

    spans = traced.spans.get_finished_spans()
    text = attribute_text(spans)
    for secret in (PASSWORD, refresh, user["accessToken"], user["refreshToken"]):
        assert secret not in text
    assert 'password: \\"***\\"' in text or 'password: "***"' in text  # the redacted document

    traced.spans.clear()
    failed = await graphql(traced.client, "{ me { id } }")
    assert error_codes(failed) == ["UNAUTHENTICATED"]
    extensions = failed["errors"][0]["extensions"]  # type: ignore[index]
    trace_ids = {format(s.context.trace_id, "032x") for s in traced.spans.get_finished_spans()}
    assert extensions["traceId"] in trace_ids


async def test_tracing_is_off_by_default(client: httpx.AsyncClient) -> None:
    failed = await graphql(client, "{ me { id } }")
    extensions = failed["errors"][0]["extensions"]  # type: ignore[index]
    assert extensions["code"] == "UNAUTHENTICATED"
    assert "traceId" not in extensions
    assert extensions["requestId"]


# --- /metrics ------------------------------------------------------------------------------


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def metrics_now(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return scrape(response.text)


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_traffic(client: httpx.AsyncClient) -> None:
    before = await metrics_now(client)
    user = await register(client, "counted")
    agent_id = await active_agent(client, user["accessToken"])
    for _ in range(3):
        await graphql(client, "query Health { systemHealth { status } }")
    await graphql(client, "query Mine { me { id } }")  # anonymous: UNAUTHENTICATED
    await graphql(client, "{ nope }")  # does not validate
    await graphql(client, "{ broken")  # does not parse
    body = await graphql(
        client,
        PROCESS,
        {"input": {"agentId": agent_id, "input": "What a lovely, calm morning."}},
        headers=bearer(user["accessToken"]),
    )
    assert "errors" not in body, body
    for _ in range(6):  # the 6th failed sign-in in a minute is refused
        await graphql(client, LOGIN, {"username": "counted", "password": "wrong password 1"})

    after = await metrics_now(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "graphql_operations_total"
    assert delta(ops, operation="Health", type="query", outcome="ok") == 3
    assert delta(ops, operation="Mine", type="query", outcome="UNAUTHENTICATED") == 1
    assert delta(ops, operation="anonymous", type="query", outcome="BAD_USER_INPUT") == 1
    assert delta(ops, operation="anonymous", type="unknown", outcome="BAD_USER_INPUT") == 1
    assert delta(ops, operation="Think", type="mutation", outcome="ok") == 1
    assert delta(ops, operation="Login", type="mutation", outcome="RATE_LIMITED") == 1
    histogram = "graphql_operation_duration_seconds_count"
    assert delta(histogram, operation="Health", type="query", outcome="ok") == 3
    assert delta(histogram, operation="Think", type="mutation", outcome="ok") == 1
    assert delta("engine_stage_duration_seconds_count", stage="emotion") == 1
    assert delta("rate_limit_refusals_total", namespace="login-user") >= 1
    assert delta("analytics_writer_staged_rows_total") == 1  # the process call's row
    for path in ("process", "otlp"):  # exported from the start; no write raced another
        assert ("agent_state_retries_total", (("path", path),)) in after, path
        assert delta("agent_state_retries_total", path=path) == 0
    for name in (
        "analytics_writer_pending_rows",
        "analytics_writer_inserted_rows_total",
        "graphql_subscriptions_active",
        "broker_subscriptions_active",
        "broker_reconnects_total",
        "broker_dropped_events_total",
        "websockets_active",
        "process_open_fds",
        "process_max_fds",
    ):
        assert (name, ()) in after, name
    assert value(after, "db_pool_size") > 0
    assert ("db_pool_connections", (("state", "checked_out"),)) in after


async def test_metrics_refuse_callers_outside_the_settings(settings: Settings) -> None:
    def app_with(**overrides: object) -> Starlette:
        return create_app(settings.model_copy(update=overrides))

    async def status(app: Starlette, headers: dict[str, str] | None = None) -> int:
        transport = httpx.ASGITransport(app=app)  # the client address is 127.0.0.1
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await http.get("/metrics", headers=headers)).status_code

    assert await status(app_with(metrics_allowed_networks=["10.0.0.0/8"])) == 403
    token_only = app_with(metrics_allowed_networks=[], metrics_token="s3cret-scrape-token")
    assert await status(token_only) == 401
    assert await status(token_only, bearer("wrong")) == 401
    assert await status(token_only, bearer("s3cret-scrape-token")) == 200
    both = app_with(metrics_allowed_networks=["127.0.0.0/8"], metrics_token="s3cret-scrape-token")
    assert await status(both, bearer("s3cret-scrape-token")) == 200
    assert await status(app_with(metrics_enabled=False)) == 404


# --- logs ----------------------------------------------------------------------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line, DEBUG included, formatted as in production with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceContext())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "consciousness.request"]


async def test_one_json_line_per_request_and_no_secret_logged(
    client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    user = await register(client, "logged")
    body = await graphql(client, LOGIN, {"username": "logged", "password": PASSWORD})
    pair = body["data"]["login"]  # type: ignore[index]
    refreshed = await graphql(client, REFRESH, {"t": pair["refreshToken"]})
    new_pair = refreshed["data"]["refreshToken"]  # type: ignore[index]
    await graphql(client, LOGIN, {"username": "logged", "password": "not the password"})
    response = await client.post(
        "/graphql",
        json={"query": "query Me { me { id } }"},
        headers={**bearer(new_pair["accessToken"]), "x-request-id": "req-42"},
    )
    assert response.status_code == 200

    logs = json_logs.getvalue()
    for secret in (
        PASSWORD,
        "not the password",
        user["accessToken"],
        user["refreshToken"],
        pair["accessToken"],
        pair["refreshToken"],
        new_pair["accessToken"],
        new_pair["refreshToken"],
    ):
        assert secret not in logs
    lines = request_lines(json_logs)
    assert [line["operation"] for line in lines] == ["Register", "Login", "R", "Login", "Me"]
    assert [line["outcome"] for line in lines] == ["ok", "ok", "ok", "UNAUTHENTICATED", "ok"]
    me = lines[-1]
    assert me["request_id"] == "req-42"
    assert me["user_id"] == user["user"]["id"]
    assert (me["status"], me["path"], me["method"]) == (200, "/graphql", "POST")
    assert me["duration_ms"] > 0
    assert lines[0]["user_id"] is None  # register is anonymous


async def test_request_lines_carry_the_trace_id(traced: Traced, json_logs: io.StringIO) -> None:
    await graphql(traced.client, "query Health { systemHealth { status } }")
    (line,) = request_lines(json_logs)
    trace_ids = {format(s.context.trace_id, "032x") for s in traced.spans.get_finished_spans()}
    assert line["trace_id"] in trace_ids


def test_redaction_catches_tokens_and_passwords() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    line = redact_secrets(
        f'Authorization: Bearer abc.def-123 token={jwt} {{"password": "hunter2 x", '
        f'"refreshToken": "r-1"}} login(password: "p w", username: "u")'
    )
    for secret in ("abc.def-123", jwt, "hunter2 x", "r-1", "p w"):
        assert secret not in line
    assert '"u"' in line  # other values stay


def test_bad_observability_settings_name_their_variable(tmp_path: Path) -> None:
    for overrides, variable in (
        ({"metrics_allowed_networks": "10.0.0.0/8,not-a-network"}, "METRICS_ALLOWED_NETWORKS"),
        ({"tracing_exporter": "zipkin"}, "TRACING_EXPORTER"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
        ({"shutdown_grace_seconds": "0"}, "SHUTDOWN_GRACE_SECONDS"),
    ):
        with pytest.raises(ConfigurationError, match=variable):
            load_settings(_env_file=None, data_dir=tmp_path, **overrides)
    networks = load_settings(_env_file=None, metrics_allowed_networks="10.0.0.0/8, ::1/128")
    assert networks.metrics_allowed_networks == ["10.0.0.0/8", "::1/128"]


async def test_a_get_query_string_stays_out_of_the_spans(traced: Traced) -> None:
    response = await traced.client.get(
        "/graphql",
        params={"query": '{ systemStatus(note: "diary-entry-123") { version } }'},
        headers={"accept": "application/json"},
    )
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    spans = traced.spans.get_finished_spans()
    assert any(s.kind is SpanKind.SERVER and s.parent is None for s in spans)
    assert "diary-entry-123" not in attribute_text(spans)


async def test_an_unsampled_request_records_no_span(settings: Settings) -> None:
    exporter = InMemorySpanExporter()
    application = create_app(
        settings.model_copy(update={"tracing_sample_ratio": 0.0}), span_exporter=exporter
    )
    async with running(application) as started:
        transport = httpx.ASGITransport(app=started.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = await graphql(http, "query Health { systemHealth { status } }")
    assert body == {"data": {"systemHealth": {"status": "OK"}}}
    assert exporter.get_finished_spans() == ()

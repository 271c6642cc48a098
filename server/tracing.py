"""OpenTelemetry tracing: one tracer provider per app, chosen by TRACING_EXPORTER.

With `none` (the default) nothing here is built: no provider, no ASGI middleware, no
database or Redis hooks, no GraphQL extension, so tracing costs nothing. Otherwise one trace
per request holds the ASGI server span, strawberry's operation and resolver spans, the
engine's stages (server.telemetry.run_engine) and a span per SQL statement and Redis command.

What never goes into a span: text a client wrote. Resolver arguments keep only numbers,
booleans and ids (texts, passwords, tokens become "***"); the GraphQL document is recorded
with every string literal replaced by "***"; SQL statements carry bound parameters only as
placeholders, Redis commands only their name and argument count, and the request URL no
query string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, Tracer
from sqlalchemy.engine import URL
from starlette.middleware import Middleware
from strawberry.extensions import LifecycleStep
from strawberry.extensions.tracing import OpenTelemetryExtension

from core.settings import Settings, TracingExporter
from db.stores import Stores

TRACER_NAME = "consciousness"
_ID_ARGUMENT = re.compile(r"(^id|Id|Ids)$")
_STRING_LITERAL = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"')
REDACTED = "***"


def redact_document(query: str) -> str:
    """The GraphQL document with every string literal (block strings too) replaced by "***"."""
    return _STRING_LITERAL.sub(f'"{REDACTED}"', query)


def redact_arguments(arguments: dict[str, Any], _info: Any) -> dict[str, Any]:
    """Resolver arguments as span attributes, keeping no text a client wrote.

    Kept: numbers, booleans, nulls, and ids (`id`, `...Id`, `...Ids`); input objects are
    filtered the same way, field by field. Every other value (texts, passwords, tokens,
    configuration) becomes "***": inputs may hold personal data the engine redacts before
    storing, and secrets.
    """
    return {name: _kept(name, value) for name, value in arguments.items()}


def _kept(name: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _kept(key, item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    if _ID_ARGUMENT.search(name):
        return value
    return REDACTED


class GraphQLTracing(OpenTelemetryExtension):
    """Strawberry's OpenTelemetry extension, with client text and secrets kept out of spans."""

    def __init__(self, tracer: Tracer) -> None:
        # The base class sets these three and looks its tracer up on every operation; the
        # app's tracer is made once instead (a lookup is a fresh Tracer in the SDK).
        self._arg_filter = redact_arguments
        self._tracer = tracer
        self._span_holder = {}

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        operation = super().on_operation()
        next(operation)
        span = self._span_holder[LifecycleStep.OPERATION]
        if self.execution_context.query:
            span.set_attribute("query", redact_document(self.execution_context.query))
        yield
        for _ in operation:  # ends the operation span
            pass


class Tracing:
    """The app's tracer provider and the instrumentation hooked to it."""

    def __init__(self, settings: Settings, exporter: SpanExporter | None = None) -> None:
        resource = Resource.create({"service.name": settings.tracing_service_name})
        sampler = ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio))
        self.provider = TracerProvider(resource=resource, sampler=sampler)
        if exporter is not None:  # given by the caller (tests): export each span at once
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            self.provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
        self.tracer = self.provider.get_tracer(TRACER_NAME)
        self._graphql_tracer = self.provider.get_tracer("strawberry")
        self._engine_tracers: list[EngineTracer] = []

    @classmethod
    def from_settings(
        cls, settings: Settings, exporter: SpanExporter | None = None
    ) -> Tracing | None:
        """Tracing as configured; None when TRACING_EXPORTER=none and no exporter is given."""
        if exporter is None and settings.tracing_exporter is TracingExporter.NONE:
            return None
        return cls(settings, exporter)

    def extension(self) -> GraphQLTracing | None:
        """The GraphQL spans of this operation; None when its request is not being recorded
        (not sampled), so an unsampled request pays for no span at all here."""
        if not trace.get_current_span().is_recording():
            return None
        return GraphQLTracing(self._graphql_tracer)

    def asgi_middleware(self) -> Middleware:
        """The server span of each HTTP request and websocket (outermost middleware)."""
        return Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            excluded_urls="/health,/ready,/metrics",
            exclude_spans=["receive", "send"],
            server_request_hook=_without_query_string,
        )

    def instrument_stores(self, stores: Stores) -> None:
        """Spans for every SQL statement of the primary store and every Redis command."""
        meter = NoOpMeterProvider().get_meter(TRACER_NAME)
        sql_tracer = trace.get_tracer(
            "opentelemetry.instrumentation.sqlalchemy", tracer_provider=self.provider
        )
        self._engine_tracers.append(
            EngineTracer(  # type: ignore[no-untyped-call]
                sql_tracer,
                stores.database.engine.sync_engine,
                meter.create_up_down_counter("db.client.connections.usage"),
            )
        )
        stores.database.direct_span = _direct_spans(sql_tracer, stores.database.engine.url)
        if stores.redis is not None:
            RedisInstrumentor.instrument_client(stores.redis, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter.

        The SQL hooks go with the engine, which the stores dispose of (EngineTracer's own
        removal is class-wide and would unhook every other app's engine too).
        """
        self._engine_tracers.clear()
        self.provider.shutdown()


def _without_query_string(span: Span, scope: dict[str, Any]) -> None:
    """Mask the query string in the server span's URL attributes: a GET /graphql carries the
    document (and its literals) there."""
    if not scope.get("query_string") or not isinstance(span, ReadableSpan):
        return
    for key, value in dict(span.attributes or {}).items():
        if not isinstance(value, str) or not key.startswith(("http.", "url.")):
            continue
        if key == "url.query":
            span.set_attribute(key, REDACTED)
        elif "?" in value:
            span.set_attribute(key, value.split("?", 1)[0] + "?" + REDACTED)


def _exporter(settings: Settings) -> SpanExporter:
    if settings.tracing_exporter is TracingExporter.CONSOLE:
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.otlp_endpoint)


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _direct_spans(
    tracer: trace.Tracer, url: URL
) -> Callable[[str], AbstractContextManager[object]]:
    """Spans for the statements db/direct.py runs past SQLAlchemy's execution, named and
    described as SQLAlchemy's instrumentation does its own (operation and database; system,
    name, statement with placeholders, peer), so a trace shows them alike."""
    attributes: dict[str, str | int] = {"db.system": "postgresql", "db.name": url.database or ""}
    if url.host:
        attributes["net.peer.name"] = url.host
    if url.port:
        attributes["net.peer.port"] = url.port

    def span(sql: str) -> AbstractContextManager[object]:
        operation = sql.split(None, 1)[0] if sql.strip() else "postgresql"
        return tracer.start_as_current_span(
            f"{operation} {url.database}" if url.database else operation,
            kind=trace.SpanKind.CLIENT,
            attributes={**attributes, "db.statement": sql},
        )

    return span

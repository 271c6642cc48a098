"""Prometheus metrics at /metrics: one CollectorRegistry per app.

Counted as they happen (server.telemetry and server.middleware): GraphQL operations and
their latency by operation name, type and outcome, open websockets and subscriptions, engine
stage durations.
Read from /proc at scrape time (prometheus_client's ProcessCollector): the process's open
file descriptors and their limit, CPU and memory.
Read from the stores at scrape time (StoresCollector), so nothing else in the code counts
for /metrics: broker subscribers, reconnects and dropped events, the analytics writer's
pending rows and counters, the vector writer's counters, rate-limit refusals, agent-state
writes redone under the row lock, the database pool.

/metrics reveals usage, so it answers only callers that pass every configured check:
`Authorization: Bearer <METRICS_TOKEN>` when that is set, and a client address inside
METRICS_ALLOWED_NETWORKS (loopback by default) when that is set.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Callable, Collection, Coroutine, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from core.settings import Settings
from db.stores import Stores
from resolvers.context import STATE_WRITE_PATHS, AppState
from server.otlp_worker import IngestStats
from server.refusal_hold import HoldStats

OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_OPERATION_NAMES = 200  # distinct operation-name labels kept; later names count as "other"
ANONYMOUS, OTHER = "anonymous", "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class Metrics:
    """The app's registry and the instruments the request path updates."""

    def __init__(self, running: Callable[[], AppState | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "graphql_operations",
            "GraphQL operations by operation name, type and outcome (ok or the error code)",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.operation_seconds = Histogram(
            "graphql_operation_duration_seconds",
            "Time from receiving a GraphQL operation to its result, by operation, type and outcome",
            # `type` lets latency queries leave out subscriptions, whose time (when one is
            # observed) is how long it ran.
            ["operation", "type", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.websockets = Gauge(
            "websockets_active", "Websocket connections open now", registry=self.registry
        )
        self.engine_stage_seconds = Histogram(
            "engine_stage_duration_seconds",
            "Duration of each engine stage of `process`, as the engine measured it",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self._names: set[str] = set()
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._stage_children: dict[str, Any] = {}
        self.registry.register(StoresCollector(running))
        # process_open_fds and process_max_fds (each websocket holds one), CPU, memory, start
        # time: read from /proc at scrape time, so on Linux only.
        ProcessCollector(registry=self.registry)

    def watch_websockets(self, connections: Collection[object]) -> None:
        """Count, at scrape time, the operations running on these websocket handlers."""
        self.registry.register(WebsocketCollector(connections))

    def watch_ingestion(self, stats: Callable[[], IngestStats]) -> None:
        """Export, at scrape time, what this process's OTLP ingestion worker did."""
        self.registry.register(IngestCollector(stats))

    def watch_held_refusals(self, stats: HoldStats) -> None:
        """Export, at scrape time, how many RATE_LIMITED answers were held (refusal_hold.py)."""
        self.registry.register(HoldCollector(stats))

    def operation_label(self, name: str | None) -> str:
        """A bounded label for a client-chosen operation name."""
        if not name:
            return ANONYMOUS
        if not OPERATION_NAME.match(name):
            return OTHER
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return OTHER
            self._names.add(name)
        return name

    def observe_operation(self, name: str | None, kind: str, outcome: str, seconds: float) -> None:
        label = self.operation_label(name)
        key = (label, kind, outcome)
        children = self._children.get(key)
        if children is None:  # labels() hashes and locks: look each series up once
            children = self._children[key] = (
                self.operations.labels(label, kind, outcome),
                self.operation_seconds.labels(label, kind, outcome),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_stages(self, stages: Iterable[tuple[str, float]]) -> None:
        """Each (engine stage, seconds) of one `process`: eight a call, so each stage's series
        is looked up once, as in observe_operation."""
        for stage, seconds in stages:
            child = self._stage_children.get(stage)
            if child is None:
                child = self._stage_children[stage] = self.engine_stage_seconds.labels(stage)
            child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StoresCollector(Collector):
    """Reads the started app's own counters (its stores', its rate limiter's, its state
    retries) at scrape time; nothing while the app is not started."""

    def __init__(self, running: Callable[[], AppState | None]) -> None:
        self._running = running

    def describe(self) -> Iterable[Metric]:
        return []  # the families depend on the stores in use: not described up front

    def collect(self) -> Iterable[Metric]:
        app = self._running()
        if app is None:
            return
        stores = app.stores
        yield from _broker_metrics(stores)
        yield from _writer_metrics(stores)
        yield from _vector_writer_metrics(stores)
        yield from _pool_metrics(stores)
        refusals = CounterMetricFamily(
            "rate_limit_refusals",
            "Requests refused by a rate limit, by namespace (tier, login-user, login-ip)",
            labels=["namespace"],
        )
        for namespace, count in sorted(app.rate_limiter.refusals.items()):
            refusals.add_metric([namespace], count)
        yield refusals
        retries = CounterMetricFamily(
            "agent_state_retries",
            "Writes of an agent's state (process, OTLP ingestion) that found it moved on since"
            " their read and were refolded and written under the row lock",
            labels=["path"],
        )
        for path in STATE_WRITE_PATHS:  # both, also before their first retry
            retries.add_metric([path], app.state_retries[path])
        yield retries


class WebsocketCollector(Collector):
    """Subscriptions (and any other operations) running now on open websockets."""

    def __init__(self, connections: Collection[object]) -> None:
        self._connections = connections

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "graphql_subscriptions_active",
            "GraphQL subscriptions running now on this process's websockets",
            value=sum(_running_operations(handler) for handler in list(self._connections)),
        )


class IngestCollector(Collector):
    """The OTLP ingestion worker's counters (server/otlp_worker.py), dead letters among them."""

    def __init__(self, stats: Callable[[], IngestStats]) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        stats = self._stats()
        yield from _counters(
            "ingest_worker_",
            ("stored_sessions", stats.stored_sessions, "GenAI spans stored as sessions"),
            ("claims", stats.claims, "Claims of queued batches stored, one transaction each"),
            ("failures", stats.failures, "Claims that failed (retried, or dead-lettered)"),
            ("dead_letters", stats.dead_letters, "Queued batches given up after failing"),
        )


class HoldCollector(Collector):
    """RATE_LIMITED answers held before they were sent, and those sent at once because
    RATE_LIMITED_MAX_HELD were already held."""

    def __init__(self, stats: HoldStats) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        yield from _counters(
            "rate_limited_answers_",
            ("held", self._stats.held, "RATE_LIMITED answers held before they were sent"),
            (
                "not_held",
                self._stats.over_capacity,
                "RATE_LIMITED answers sent at once: the hold was full",
            ),
        )


def _running_operations(handler: object) -> int:
    """Strawberry's handlers keep their running operations in `operations`
    (graphql-transport-ws) or `tasks` (the legacy graphql-ws)."""
    running = getattr(handler, "operations", None)
    if running is None:
        running = getattr(handler, "tasks", {})
    return len(running)


def _broker_metrics(stores: Stores) -> Iterable[Metric]:
    broker = stores.broker
    yield GaugeMetricFamily(
        "broker_subscriptions_active",
        "Subscriptions of this process on the event broker (subscriptions to one topic may share"
        " one)",
        value=broker.local.subscribers,
    )
    yield CounterMetricFamily(
        "broker_reconnects",
        "Times the broker's reader lost its Redis connection and reconnected (or tried to)",
        value=broker.reconnects,
    )
    yield CounterMetricFamily(
        "broker_dropped_events",
        "Events dropped from subscriber queues that were full (slow subscribers)",
        value=broker.local.dropped,
    )


def _writer_metrics(stores: Stores) -> Iterable[Metric]:
    writer = stores.metrics_writer
    if writer is None:
        return
    stats = writer.stats()
    yield GaugeMetricFamily(
        "analytics_writer_pending_rows",
        "Metrics rows staged by this process since a drain last emptied the outbox",
        value=stats.pending_rows,
    )
    yield from _counters(
        "analytics_writer_",
        ("staged_rows", stats.staged_rows, "Metrics rows staged in the outbox"),
        ("inserted_rows", stats.inserted_rows, "Metrics rows inserted into ClickHouse"),
        ("duplicate_rows", stats.duplicate_rows, "Outbox rows ClickHouse already held"),
        ("batches", stats.batches, "Insert batches"),
        ("insert_failures", stats.insert_failures, "Drains of the outbox that failed"),
    )


def _vector_writer_metrics(stores: Stores) -> Iterable[Metric]:
    writer = stores.vector_writer
    if writer is None:
        return
    stats = writer.stats()
    yield from _counters(
        "vector_writer_",
        ("written_sessions", stats.written, "Session embeddings written to the vector store"),
        ("batches", stats.batches, "Embedding batches written"),
        ("failures", stats.failures, "Drains that failed (their sessions are retried)"),
        ("retention_runs", stats.retention_runs, "Deletions of vectors past their retention"),
        ("unreadable_sessions", stats.unreadable, "Sessions skipped: their input did not open"),
    )


def _counters(prefix: str, *counters: tuple[str, int, str]) -> Iterable[Metric]:
    """One counter family per (name, value, help text), each name behind `prefix`."""
    for name, value, text in counters:
        yield CounterMetricFamily(prefix + name, text, value=value)


def _pool_metrics(stores: Stores) -> Iterable[Metric]:
    usage = stores.database.pool_usage()
    if usage is None:
        return
    family = GaugeMetricFamily(
        "db_pool_connections",
        "Primary database connections by state (in use, idle in the pool)",
        labels=["state"],
    )
    family.add_metric(["checked_out"], usage.checked_out)
    family.add_metric(["idle"], usage.idle)
    yield family
    yield GaugeMetricFamily("db_pool_size", "Configured pool size", value=usage.size)


def metrics_endpoint(
    metrics: Metrics, settings: Settings
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The /metrics handler, refusing callers that fail the configured checks."""
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.metrics_allowed_networks]
    expected = f"Bearer {settings.metrics_token}".encode() if settings.metrics_token else None

    async def endpoint(request: Request) -> Response:
        if networks and not _client_in(request, networks):
            return PlainTextResponse("forbidden\n", status_code=403)
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "unauthorized\n", status_code=401, headers={"www-authenticate": "Bearer"}
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def _client_in(
    request: Request, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in networks)

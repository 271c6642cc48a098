"""The application factory: Starlette with /graphql, the other routes, middleware, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import TypedDict

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from auth.ratelimit import RateLimiter
from auth.tokens import AccessTokens
from core.clock import SYSTEM_CLOCK, Clock
from core.errors import ApiError, http_status
from core.settings import Settings
from db.allow_list import load_allow_list
from db.analytics_writer import AnalyticsWriter
from db.crypto import Keyring
from db.guard_model import MODEL_DIM, load_embedder, load_guard
from db.stores import Stores
from db.types import utcnow
from db.vector_writer import VectorWriter
from engine import SemanticGuard
from outbound.email import SmtpConfig
from outbound.language_model import ChatCompletions
from outbound.webhooks import WebhookSender
from resolvers.alert_evaluator import AlertEvaluator
from resolvers.alert_notify import Notifier
from resolvers.context import AppState
from resolvers.metrics import process_usage
from resolvers.pagination import CursorCodec
from schema.schema import schema
from server.dashboard import dashboard_page
from server.downloads import export_download
from server.engine_processes import (
    LONG_INPUT_BYTES,
    EngineProcesses,
    available_cores,
    serving_min_bytes,
)
from server.graphql_app import GraphQLApp
from server.landing import landing_endpoint
from server.metrics import Metrics, metrics_endpoint
from server.middleware import EdgeMiddleware
from server.otlp import traces_endpoint
from server.otlp_worker import IngestWorker
from server.playground import STATIC_PATH, api_reference_page, static_files
from server.refusal_hold import RefusalHold
from server.rest.adapter import rest_routes
from server.shutdown_signals import chain_shutdown_signals
from server.telemetry import EngineLanes, RequestObserver, Telemetry
from server.tracing import Tracing

log = logging.getLogger(__name__)


class LifespanState(TypedDict):
    """What the lifespan hands every request; Starlette copies it into `request.state`."""

    app_state: AppState


def package_version() -> str:
    try:
        return version("consciousness-api")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def create_app(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    clock: Clock = SYSTEM_CLOCK,
    warm_engine_processes: bool = False,
) -> Starlette:
    """Build the ASGI app; stores open in the lifespan, so creating the app does no I/O.

    `span_exporter` turns tracing on with that exporter whatever TRACING_EXPORTER says (tests).
    `clock` is what access tokens are issued, checked and expired on (tests move their own).
    `warm_engine_processes` starts the engine's worker processes with the server (a serving
    process: the first long input does not wait for them); otherwise they start with the
    first long input (tests).
    """
    running: AppState | None = None  # for /metrics: the started app's counters, at scrape time
    tracing = Tracing.from_settings(settings, span_exporter)
    metrics = Metrics(lambda: running) if settings.metrics_enabled else None
    engine_processes = EngineProcesses(
        settings.engine_processes,
        settings.engine_process_min_bytes or LONG_INPUT_BYTES,
        with_guard=settings.ethics_semantic_guard,
        contextual=settings.ethics_contextual_stage,
    )
    telemetry = Telemetry(metrics, tracing, engine_processes)
    schema.observe_with(RequestObserver())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[LifespanState]:
        nonlocal running
        # The workers start beside the rest of start-up (another core), ready before /ready.
        warming = asyncio.create_task(engine_processes.warm_up()) if warm_engine_processes else None
        stores = await Stores.open(
            database_url=settings.resolved_database_url,
            redis_url=settings.redis_url,
            clickhouse_url=settings.resolved_clickhouse_url,
            redis_key_prefix=settings.redis_key_prefix,
            db_pool_size=settings.db_pool_size,
            db_pool_timeout_seconds=settings.db_pool_timeout_seconds,
            persisted_query_cache_bytes=settings.persisted_query_cache_bytes,
            persisted_query_ttl_seconds=settings.persisted_query_ttl_seconds,
            qdrant_url=settings.qdrant_url,
            qdrant_api_key=settings.qdrant_api_key,
            vectors_path=settings.vectors_path,
            agent_stats_max_age_seconds=settings.analytics_flush_interval_seconds,
        )
        if settings.persisted_operations_file is not None:
            load_allow_list(settings.persisted_operations_file)  # read once; a bad file stops
        stores.metrics_writer = AnalyticsWriter(
            stores.analytics,
            stores.database,
            batch_size=settings.analytics_batch_size,
            flush_interval_seconds=settings.analytics_flush_interval_seconds,
        )
        if settings.background_writers:
            stores.metrics_writer.start()  # stores.close() flushes it
        stores.tokens.start()  # revocations followed in process (stores.close() stops it)
        stores.socket_slots.start()  # websocket slots' leases renewed (stores.close() stops it)
        if tracing is not None:
            tracing.instrument_stores(stores)
        secrets = settings.signing_secrets()
        rate_limiter = await RateLimiter.create(settings.redis_url, settings.redis_key_prefix)
        guard = (
            await _load_guard(settings.ethics_contextual_stage)
            if settings.ethics_semantic_guard
            else None
        )
        keyring = Keyring(*settings.data_keys())
        await _start_vector_writer(settings, stores, guard, keyring)
        running = app_state = AppState(
            settings=settings,
            stores=stores,
            access_tokens=AccessTokens(
                secrets, settings.jwt_algorithm, settings.access_token_ttl_seconds, clock
            ),
            rate_limiter=rate_limiter,
            cursors=CursorCodec(secrets[0]),
            started_at=utcnow(),
            version=package_version(),
            language_model=ChatCompletions(settings.llm_api_key, settings.llm_timeout_seconds),
            guard=guard,
            keyring=keyring,
            signing_secrets=tuple(secrets),
            run_engine=telemetry.run_engine,
            engine_fan_out=EngineLanes(engine_processes),
            clock=clock,
        )
        evaluator = _alert_evaluator(app_state)
        running = app_state = dataclasses.replace(app_state, alerts=evaluator)
        if settings.alerts_enabled:
            evaluator.start()
        graphql.token_watch.start(stores.tokens, settings.websocket_token_check_seconds)
        if warming is not None:
            await warming
        if settings.ingest_worker:
            ingest_worker.start_for(app_state)
        # uvicorn closes websockets (1012) before this lifespan's shutdown: say 1001 first.
        restore_signals = chain_shutdown_signals(graphql.close_websockets)
        try:
            yield {"app_state": app_state}
        finally:
            restore_signals()
            await graphql.close_websockets()
            await graphql.token_watch.stop()
            engine_processes.close()
            await ingest_worker.close()
            await evaluator.close()
            await rate_limiter.close()
            await app_state.language_model.aclose()
            await stores.close()
            running = None
            if tracing is not None:  # exports the spans still buffered (blocking: a thread)
                await asyncio.to_thread(tracing.shutdown)

    ingest_worker = IngestWorker()  # started by the lifespan; analyses queued OTLP spans
    graphql = GraphQLApp(settings, graphql_ide="graphiql" if settings.playground_enabled else None)
    hold = None
    if settings.rate_limited_hold_seconds > 0 and settings.rate_limited_max_held > 0:
        hold = RefusalHold(settings.rate_limited_hold_seconds, settings.rate_limited_max_held)
    if metrics is not None:
        metrics.watch_websockets(graphql.connections)
        metrics.watch_ingestion(ingest_worker.stats)
        if hold is not None:
            metrics.watch_held_refusals(hold.stats)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        app_state: AppState = request.state.app_state
        results = await app_state.stores.health()
        failing = [r.name for r in results if not r.ok]
        for result in results:
            if not result.ok:
                log.warning(
                    "%s store (%s) is not ready: %s", result.name, result.backend, result.detail
                )
        body = {
            "status": "ok" if not failing else "unavailable",
            "failing": failing,
            "stores": {
                r.name: {"backend": r.backend, "ok": r.ok, "error": r.error} for r in results
            },
        }
        return JSONResponse(body, status_code=503 if failing else 200)

    async def download_export(request: Request) -> Response:
        """GET /exports/{id} with the bearer token of the user who asked for the export."""
        app_state: AppState = request.state.app_state
        authorization = request.headers.get("authorization", "")
        try:
            return await export_download(app_state, request.path_params["id"], authorization)
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=http_status(exc))

    middleware = [
        Middleware(
            EdgeMiddleware,
            telemetry=telemetry,
            max_body_bytes=settings.max_body_bytes,
            hsts_max_age_seconds=settings.hsts_max_age_seconds,
            csrf_path="/graphql" if settings.csrf_prevention else None,
            refusal_hold=hold,
        )
    ]
    if tracing is not None:  # outermost, so the request's log line carries its trace id
        middleware.insert(0, tracing.asgi_middleware())
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                # PATCH, DELETE and the HTTP caching and paging headers: the REST endpoints.
                allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-request-id", "if-match"],
                expose_headers=["x-request-id", "etag", "location", "link", "retry-after"],
            )
        )
    routes = [
        Route("/", landing_endpoint(settings, package_version()), methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/health", health),
        Route("/ready", ready),
        Route("/exports/{id}", download_export, methods=["GET"]),
        Route("/api/v1/docs", lambda _request: api_reference_page(), methods=["GET"]),
        Route("/v1/traces", traces_endpoint(ingest_worker), methods=["POST"]),
        Mount(STATIC_PATH, app=static_files(), name="static"),
        *rest_routes(),
    ]
    if settings.dashboard_enabled:
        routes.append(Route("/dashboard", dashboard_page, methods=["GET"]))
    if metrics is not None:
        routes.append(Route("/metrics", metrics_endpoint(metrics, settings), methods=["GET"]))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    return app


def app_from_environment() -> Starlette:
    """The app for uvicorn's `--factory`: settings come from the environment of each worker."""
    from core.settings import load_settings
    from server.heap import tune_collector
    from server.observability import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level.value, settings.log_format.value)
    if settings.engine_process_min_bytes is None and settings.engine_processes:
        cores = available_cores()
        min_bytes = serving_min_bytes(settings.serving_processes, settings.engine_processes, cores)
        log.info(
            "engine inputs of %d UTF-8 bytes or more go to its worker process(es): %d serving "
            "process(es) with %d engine worker(s) each on %d core(s)",
            min_bytes,
            settings.serving_processes,
            settings.engine_processes,
            cores,
        )
        settings = settings.model_copy(update={"engine_process_min_bytes": min_bytes})
    app = create_app(settings, warm_engine_processes=True)
    tune_collector()  # a serving process: short GC pauses with many sockets (server/heap.py)
    return app


async def _load_guard(contextual: bool) -> SemanticGuard:
    """The ethics stage's semantic layer (with its contextual stage unless `contextual` is
    False), read from its packages in a worker thread; logs what loading it cost
    (docs/operations.md has the measured figures)."""
    _, rss_before = process_usage()
    started = time.perf_counter()
    guard = await asyncio.to_thread(load_guard, None, contextual)
    _, rss_after = process_usage()
    log.info(
        "semantic guard %s + %s loaded in %.0f ms (RSS %+.1f MB)",
        guard.embedder.name,
        "no contextual stage" if guard.contextual is None else guard.contextual.encoder.name,
        (time.perf_counter() - started) * 1000,
        rss_after - rss_before,
    )
    return guard


async def _start_vector_writer(
    settings: Settings, stores: Stores, guard: SemanticGuard | None, keyring: Keyring
) -> None:
    """Migrate the vector collection and make its writer, embedding with the guard's model
    (loaded once; without the guard, the same model is loaded for the vectors alone); start
    it where this process writes (BACKGROUND_WRITERS). Either way the writer embeds search
    texts and deletes vectors."""
    if stores.vectors is None:
        return
    embedder = guard.embedder if guard is not None else await asyncio.to_thread(load_embedder)
    await stores.vectors.migrate(MODEL_DIM)
    stores.vector_writer = VectorWriter(
        stores.vectors,
        stores.database,
        embedder,
        keyring,
        retention_days=settings.vector_retention_days,
    )
    if settings.background_writers:
        stores.vector_writer.start()  # stores.close() stops it after a last drain


def _alert_evaluator(app: AppState) -> AlertEvaluator:
    """The alert evaluator with its channels, built from the settings (not yet started)."""
    settings = app.settings
    webhooks = WebhookSender(
        timeout_seconds=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        allow_private=settings.webhook_allow_private_networks,
    )
    smtp = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        sender=settings.smtp_from,
    )
    notifier = Notifier(app.stores, app.keyring, webhooks, smtp)
    return AlertEvaluator(app, notifier, settings.alert_evaluation_interval_seconds)

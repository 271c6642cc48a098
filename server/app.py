"""The application factory: Starlette with GraphQL at /graphql, /health, /ready, and a lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from auth.ratelimit import RateLimiter
from auth.tokens import AccessTokens
from db.analytics_writer import AnalyticsWriter
from db.stores import Stores
from db.types import utcnow
from resolvers.analytics_exports import authorize_download, open_export
from resolvers.loaders import Loaders
from resolvers.pagination import CursorCodec
from schema.errors import ApiError, NotFound, Unauthenticated
from schema.schema import schema
from server.context import AppState, Context
from server.middleware import RequestIdMiddleware
from server.settings import Settings

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return version("consciousness-api")
    except PackageNotFoundError:
        return "0.0.0+unknown"


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with orjson encoding and our typed context."""

    def __init__(self, app_state: dict[str, AppState], **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self._app_state = app_state

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a websocket from connection_init's payload; a bad token closes it (4403)."""
        try:
            await context.principal()
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message}) from None
        acknowledge_without_payload: UnsetType = UNSET
        return acknowledge_without_payload

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        app = self._app_state["current"]
        return Context(
            app=app,
            request=request,
            response=response,
            request_id=request.scope.get("state", {}).get("request_id", ""),
            loaders=Loaders.create(app.stores),
        )


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; stores open in the lifespan, so creating the app does no I/O."""
    holder: dict[str, AppState] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stores = await Stores.open(
            database_url=settings.resolved_database_url,
            redis_url=settings.redis_url,
            clickhouse_url=settings.resolved_clickhouse_url,
            redis_key_prefix=settings.redis_key_prefix,
            db_pool_size=settings.db_pool_size,
        )
        stores.metrics_writer = AnalyticsWriter(
            stores.analytics,
            settings.analytics_spool_path,
            batch_size=settings.analytics_batch_size,
            queue_size=settings.analytics_queue_size,
            flush_interval_seconds=settings.analytics_flush_interval_seconds,
        )
        stores.metrics_writer.start()  # stores.close() flushes it
        secrets = settings.signing_secrets()
        rate_limiter = await RateLimiter.create(settings.redis_url, settings.redis_key_prefix)
        holder["current"] = AppState(
            settings=settings,
            stores=stores,
            access_tokens=AccessTokens(
                secrets, settings.jwt_algorithm, settings.access_token_ttl_seconds
            ),
            rate_limiter=rate_limiter,
            cursors=CursorCodec(secrets[0]),
            started_at=utcnow(),
            version=package_version(),
        )
        try:
            yield
        finally:
            await rate_limiter.close()
            await stores.close()
            holder.clear()

    graphql = GraphQLApp(holder, graphql_ide="graphiql" if settings.playground_enabled else None)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_request: Request) -> Response:
        results = await holder["current"].stores.health()
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
        app_state = holder["current"]
        try:
            job = await authorize_download(
                app_state, request.path_params["id"], request.headers.get("authorization", "")
            )
        except Unauthenticated as exc:
            return JSONResponse({"error": exc.message}, status_code=401)
        except NotFound as exc:
            return JSONResponse({"error": exc.message}, status_code=404)
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=403)
        try:
            body = await open_export(app_state, job)
        except Exception:
            log.exception("export %s could not start", job.id)
            return JSONResponse({"error": "the analytics store is unavailable"}, status_code=503)
        disposition = f'attachment; filename="{job.filename}"'
        return StreamingResponse(
            body, media_type=job.media_type, headers={"content-disposition": disposition}
        )

    middleware = [Middleware(RequestIdMiddleware)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id"],
            )
        )
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/health", health),
        Route("/ready", ready),
        Route("/exports/{id}", download_export, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.app_state = holder
    return app


def app_from_environment() -> Starlette:
    """The app for uvicorn's `--factory`: settings come from the environment of each worker."""
    from server.observability import configure_logging
    from server.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level.value)
    return create_app(settings)

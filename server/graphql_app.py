"""The GraphQL view: strawberry's ASGI app with our context, encoding and HTTP refinements.

On top of strawberry's view:
- orjson encoding, and a request body that is not a JSON object is a 400 naming that (not
  strawberry's 500);
- GraphQL over HTTP's `application/graphql-response+json`: a client that accepts it gets
  that media type, and a request that fails before execution (parse, validation, variable
  coercion, persisted-query refusal: errors without a `path`) gets 400 without `data`;
- APQ and the allow-list (server/persisted.py) fill the document in before execution;
- the self-hosted GraphiQL page (server/playground.py);
- websockets through server/websockets.py's handlers: text frames, token watching (one
  TokenWatch per process), caps, grouped fan-out, and `close_websockets` for shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from core.errors import ApiError, Unauthenticated
from core.settings import Settings
from resolvers.context import AppState, Context
from resolvers.loaders import Loaders
from schema.document_budget import large_document_refusal
from schema.schema import schema
from server.fanout import FanOutGroups
from server.live_connections import LiveConnection, TokenWatch
from server.persisted import PersistedQueryRefused, resolve_request
from server.playground import graphiql_page
from server.telemetry import UNKNOWN_TYPE, OperationRecord, record_operation
from server.websockets import LegacyWSHandler, LiveHandler, TextWebSocketAdapter, TransportWSHandler
from server.ws_admission import error_payload

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


class NegotiatedResponse(Response):
    """strawberry's sub-response, remembering whether the client accepts graphql-response+json."""

    graphql_response_json = False


def _failed_before_execution(response: GraphQLHTTPResponse) -> bool:
    """No data and only errors without a path: the request never reached execution."""
    errors: list[dict[str, object]] = list(response.get("errors") or [])  # type: ignore[arg-type]
    return response.get("data") is None and bool(errors) and not any("path" in e for e in errors)


SHUTTING_DOWN = "server shutting down"


async def refuse_while_closing(websocket: WebSocket) -> None:
    """Refuse a handshake during shutdown with 503, so that a load balancer passes it to
    another process (deploy/nginx.conf retries on 503) and a client knows to try again; a
    server without the denial-response extension can only close it (its client sees 403)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        refusal = PlainTextResponse(SHUTTING_DOWN, 503, headers={"retry-after": "1"})
        await websocket.send_denial_response(refusal)
    else:
        await websocket.close(code=1001, reason=SHUTTING_DOWN)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with our typed context (see the module docstring)."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        # Operations per socket: SUBSCRIPTIONS_PER_SOCKET, refused by our handlers instead
        # (strawberry's refusal names no setting and carries no code).
        super().__init__(schema, max_subscriptions_per_connection=None, **kwargs)
        self._settings = settings
        self.connections: set[LiveHandler] = set()
        self.fanout = FanOutGroups()
        self.token_watch = TokenWatch()
        self._closing = False

    @property
    def grouping_enabled(self) -> bool:
        return self._settings.subscription_grouping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self._closing:
            await refuse_while_closing(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)

    async def close_websockets(self, code: int = 1001, reason: str = SHUTTING_DOWN) -> int:
        """Close every open websocket with `code` (1001 going away); returns how many.

        Stable API for the shutdown path. From the first call on, new websocket handshakes
        are refused. For each connection, frames already queued for its grouped
        subscriptions are sent first (up to WEBSOCKET_DRAIN_SECONDS), then its operations
        stop (legacy graphql-ws clients get `complete` for each) and the socket closes with
        `code`. Safe to call twice; the second call finds nothing to close.
        """
        self._closing = True
        handlers = list(self.connections)
        drain = self._settings.websocket_drain_seconds
        results = await asyncio.gather(
            *(handler.go_away(code, reason, drain) for handler in handlers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.warning("a websocket did not close cleanly: %s", result)
        return len(handlers)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        value = super().parse_json(data)
        if isinstance(value, list):
            return value  # a batch: refused by strawberry (batching is off)
        if not isinstance(value, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return value

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = NegotiatedResponse()
        sub_response.status_code = None  # type: ignore[assignment]  # strawberry's "unset"
        del sub_response.headers["content-length"]
        accept = request.headers.get("accept", "")
        sub_response.graphql_response_json = GRAPHQL_RESPONSE_JSON in accept
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        if (
            not isinstance(sub_response, NegotiatedResponse)
            or not sub_response.graphql_response_json
            or isinstance(response_data, list)
        ):
            return super().create_response(response_data, sub_response)
        if _failed_before_execution(response_data):
            without_data = {k: v for k, v in response_data.items() if k != "data"}
            response_data = without_data  # type: ignore[assignment]
            sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        return response

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Fill the document in from APQ or the allow-list first (server/persisted.py), then
        spend a long document's size from its caller's budget (schema/document_budget.py)."""

        async def signed_in() -> bool:
            try:
                return await context.principal() is not None
            except ApiError:  # a bad token, or the token store down: not registering
                return False

        # A long document spends from its caller's budget before APQ stores it; one sent by
        # hash, once APQ has filled it in (a stored long document parses each time too).
        started = time.perf_counter()

        def refused(code: str) -> None:  # counted, as the schema counts its operations
            seconds = time.perf_counter() - started
            record_operation(
                OperationRecord(request_data.operation_name, UNKNOWN_TYPE, code, seconds)
            )

        sent = request_data.query
        refusal = await large_document_refusal(context, sent)
        if refusal is None:
            try:
                request_data = await resolve_request(
                    context.settings, context.stores.persisted_queries, request_data, signed_in
                )
            except PersistedQueryRefused as persisted_refusal:
                refused(persisted_refusal.code)
                return persisted_refusal.result(context.request_id)
            if sent is None:
                refusal = await large_document_refusal(context, request_data.query)
        if refusal is not None:
            refused(str(refusal.code))
            sub_response.headers["retry-after"] = str(refusal.extensions["retryAfter"])
            payload = error_payload(refusal, context.request_id)
            error = GraphQLError(payload["message"], extensions=payload.get("extensions"))
            return ExecutionResult(data=None, errors=[error])
        return await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our self-hosted GraphiQL (server/playground.py), never strawberry's CDN page."""
        return graphiql_page()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a websocket from connection_init's payload; a bad token closes it (4403).

        A user's socket then takes one of the user's slots (server/ws_admission.py): over
        WEBSOCKETS_PER_USER, TooManySockets reaches the handler, which closes with 4429.
        """
        try:
            principal = await context.principal()
            if principal is not None and isinstance(context.live, LiveConnection):
                await context.live.slot.sign_in(principal.user_id)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message}) from None
        except ApiError as exc:  # a store is down: refuse this socket, keep the server
            log.warning("websocket refused: %s", exc.message)
            raise ConnectionRejectionError({"message": exc.message}) from None
        acknowledge_without_payload: UnsetType = UNSET
        return acknowledge_without_payload

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return request_context(request, response)


def request_context(request: Request | WebSocket, response: Response | WebSocket) -> Context:
    """The context of one request or websocket; /graphql and the REST endpoints build it here."""
    app: AppState = request.state.app_state
    return Context(
        app=app,
        request=request,
        response=response,
        request_id=request.scope.get("state", {}).get("request_id", ""),
        loaders=Loaders.create(app.stores),
    )

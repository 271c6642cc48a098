"""Websocket plumbing around strawberry's two protocol handlers.

What the handlers add to strawberry's:
- text frames (orjson encodes to bytes; the protocols are JSON over text frames);
- token watching (server/live_connections.py) that closes the socket with 4401 when its
  token expires or is revoked: on graphql-transport-ws a plain close 4401
  "Unauthorized" (the spec's code for a connection that is not or no longer
  authenticated); on the legacy graphql-ws a `connection_error` message, then close 4401;
- grouped fan-out (server/fanout.py) of groupable subscriptions when enabled;
- queries and mutations over the legacy protocol too (as subscriptions-transport-ws ran
  them), so `renewConnectionToken` works on both;
- `go_away`, which lets queued frames drain and closes with a code (graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionErrorMessage,
    ErrorMessage,
)
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from resolvers.context import Context
from server.fanout import FanOutGroups, Member, execute_encoded, group_key
from server.live_connections import LiveConnection, TokenWatch
from server.ws_messages import legacy_ws_problem, transport_ws_problem

if TYPE_CHECKING:
    from strawberry.schema.base import BaseSchema

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Closing a socket whose peer is gone raises one of these; the socket is closed either way.
SEND_FAILURES = (WebSocketDisconnected, WebSocketDisconnect, RuntimeError, OSError)


class LiveView(Protocol):
    """What the handlers need from the view (GraphQLApp)."""

    connections: set[LiveHandler]
    fanout: FanOutGroups
    token_watch: TokenWatch

    @property
    def grouping_enabled(self) -> bool: ...


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends JSON as text frames, as both protocols (and browsers' clients) expect."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        await self.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class LiveHandler:
    """What both protocol handlers share: registration, token watching, groups, going away."""

    context: Context
    websocket: Any
    schema: BaseSchema
    view: Any
    members: set[Member]
    live: LiveConnection  # also the context's `live`: resolvers reach it there

    # A mixin placed before strawberry's handler class: super() is that class (typed Any).

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cast(Any, super()).__init__(*args, **kwargs)
        self.members = set()
        self.live = LiveConnection(self.context, self.close_unauthorized, self._view.token_watch)
        self.context.live = self.live

    async def handle(self) -> None:
        self._view.connections.add(self)
        try:
            await cast(Any, super()).handle()
        finally:
            self._view.connections.discard(self)
            self.live.stop()

    async def handle_connection_init(self, message: Any) -> None:
        await cast(Any, super()).handle_connection_init(message)
        if cast(Any, self).connection_acknowledged:
            self.live.start()

    @property
    def _view(self) -> LiveView:
        view: LiveView = self.view
        return view

    def _grouped(self, query: str, variables: Any, operation_name: str | None) -> Any:
        """The group to join for this operation, or None to run it on its own."""
        if not self._view.grouping_enabled:
            return None
        key = group_key(self.context, query, variables, operation_name)
        if key is None:
            return None
        return self._view.fanout.join(
            key,
            lambda: execute_encoded(self.schema, self.context, query, variables, operation_name),
        )

    async def cancel_operations(self) -> None:
        raise NotImplementedError

    async def close_unauthorized(self, reason: str) -> None:
        raise NotImplementedError

    async def go_away(self, code: int, reason: str, drain_seconds: float) -> None:
        """Let queued grouped frames go out (up to drain_seconds), then close with `code`."""
        deadline = time.monotonic() + drain_seconds
        for member in list(self.members):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(member.drained(), max(0.0, deadline - time.monotonic()))
        await self.cancel_operations()
        with contextlib.suppress(*SEND_FAILURES):
            await self.websocket.close(code=code, reason=reason)


class TransportWSHandler(LiveHandler, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the additions of this module."""

    async def handle_message(self, message: Any) -> None:
        problem = transport_ws_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)  # closes with 4400
            return
        await super().handle_message(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        grouped = self._grouped(operation.query, operation.variables, operation.operation_name)
        if grouped is None:
            await super().run_operation(operation)
            return
        prefix = f'{{"id":{self.view.encode_json(operation.id).decode()},"type":"next","payload":'
        try:
            async with grouped as member:
                self.members.add(member)
                try:
                    async for kind, item in member:
                        if kind == "error":
                            await operation.send_operation_message(
                                {"id": operation.id, "type": "error", "payload": item}
                            )
                            return
                        await self.websocket.send_text(prefix + item + "}")
                finally:
                    self.members.discard(member)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except SEND_FAILURES:
            return

    async def cancel_operations(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)

    async def close_unauthorized(self, reason: str) -> None:
        await self.cancel_operations()
        with contextlib.suppress(*SEND_FAILURES):
            await self.websocket.close(code=UNAUTHORIZED, reason=reason)


class LegacyWSHandler(LiveHandler, BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws (subscriptions-transport-ws) with the additions of this module."""

    async def handle_message(self, message: Any) -> None:
        problem = legacy_ws_problem(message)
        if problem is not None:
            # The legacy protocol has no close code for it: answer an error, keep the socket.
            given = message.get("id") if isinstance(message, dict) else None
            await self.send_message(
                ErrorMessage(
                    type="error",
                    id=given if isinstance(given, str) else "",
                    payload={"message": problem},
                )
            )
            return
        await super().handle_message(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Strawberry's, running any operation type, and grouped when it can be."""
        try:
            grouped = self._grouped(query, variables, operation_name)
            if grouped is None:
                await self._run_alone(operation_id, query, operation_name, variables)
            else:
                await self._run_grouped(operation_id, grouped)
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            with contextlib.suppress(*SEND_FAILURES):
                await self.send_message({"type": "complete", "id": operation_id})
        except SEND_FAILURES:
            pass
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)

    async def _run_alone(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        result_source = await self.schema.stream(
            query=query,
            variable_values=variables,
            operation_name=operation_name,
            context_value=self.context,
            root_value=self.root_value,
        )
        self.subscriptions[operation_id] = result_source
        async with aclosing(result_source):
            first = True
            async for result in result_source:
                if first and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message(
                        {"type": "error", "id": operation_id, "payload": result.errors[0].formatted}
                    )
                    return
                await self.send_data_message(result, operation_id)  # type: ignore[arg-type]
                first = False

    async def _run_grouped(self, operation_id: str, grouped: Any) -> None:
        prefix = f'{{"id":{self.view.encode_json(operation_id).decode()},"type":"data","payload":'
        async with grouped as member:
            self.members.add(member)
            try:
                async for kind, item in member:
                    if kind == "error":
                        first: Any = item[0] if item else {"message": "the operation failed"}
                        await self.send_message(
                            ErrorMessage(type="error", id=operation_id, payload=first)
                        )
                        return
                    await self.websocket.send_text(prefix + item + "}")
            finally:
                self.members.discard(member)

    async def cancel_operations(self) -> None:
        await self.cleanup()

    async def close_unauthorized(self, reason: str) -> None:
        await self.cancel_operations()
        with contextlib.suppress(*SEND_FAILURES):
            await self.send_message(
                ConnectionErrorMessage(type="connection_error", payload={"message": reason})
            )
            await self.websocket.close(code=UNAUTHORIZED, reason=reason)


def chain_shutdown_signals(go_away: Callable[[], Awaitable[object]]) -> Callable[[], None]:
    """Run `go_away` on SIGINT/SIGTERM before passing the signal to the server's handler.

    uvicorn closes open websockets with 1012 before the lifespan's shutdown runs, so the
    1001 goodbye has to happen when the signal arrives. The previous handler (uvicorn's)
    runs once `go_away` is done; a second signal passes at once. Returns a function that
    restores the previous handlers. Only on the main thread (signals live there).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}
    pending: set[asyncio.Task[None]] = set()

    def forward(number: int, frame: FrameType | None) -> None:
        handler = previous.get(number)
        if callable(handler):
            handler(number, frame)
        else:  # the default action (or ignoring it): let the signal happen again, unchained
            signal.signal(number, handler)
            signal.raise_signal(number)

    async def then_forward(number: int, frame: FrameType | None) -> None:
        try:
            await go_away()
        except Exception:
            log.exception("closing websockets on shutdown failed")
        forward(number, frame)

    def on_signal(number: int, frame: FrameType | None) -> None:
        if pending:
            forward(number, frame)
            return
        task = loop.create_task(then_forward(number, frame))
        pending.add(task)

    for number in SHUTDOWN_SIGNALS:
        previous[number] = signal.signal(
            number, lambda n, f: loop.call_soon_threadsafe(on_signal, n, f)
        )

    def restore() -> None:
        for number, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(number, handler)

    return restore

"""Websocket plumbing around strawberry's two protocol handlers.

What the handlers add to strawberry's:
- text frames (orjson encodes to bytes; the protocols are JSON over text frames);
- token watching (server/live_connections.py) that closes the socket with 4401 when its
  token expires or is revoked: a plain close 4401 "Unauthorized" on graphql-transport-ws
  (the spec's code), a `connection_error` message then close 4401 on the legacy graphql-ws.
  Each new operation asks first, and a revoked token's is refused (UNAUTHENTICATED);
- caps (server/ws_admission.py): sockets per client address and per user (4429),
  operations in flight per socket (the operation's error), and a connection_init
  deadline on the app's clock for both protocols (4408; strawberry's own covers only
  graphql-transport-ws, in real time);
- grouped fan-out (server/fanout.py) of groupable subscriptions when enabled;
- queries and mutations over the legacy protocol too (as subscriptions-transport-ws ran
  them), so `renewConnectionToken` works on both;
- `go_away`, which lets queued frames drain and closes with a code (graceful shutdown;
  server/shutdown_signals.py calls it on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from graphql import GraphQLFormattedError
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

from core.clock import Timer
from core.errors import ApiError, Unauthenticated
from resolvers.context import Context
from server.fanout import FanOutGroups, Member, execute_encoded, group_key
from server.live_connections import LiveConnection, TokenWatch
from server.ws_admission import (
    INIT_TIMEOUT,
    INIT_TIMEOUT_REASON,
    TOO_MANY,
    TRY_AGAIN_LATER,
    TooManySockets,
    error_payload,
    operation_refusal,
)
from server.ws_messages import legacy_ws_problem, transport_ws_problem

if TYPE_CHECKING:
    from strawberry.schema.base import BaseSchema

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401
STOP_OPERATIONS_SECONDS = 5.0  # going away: how long the operations get to stop
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
    """What both protocol handlers share: registration, caps, token watching, groups, going away."""

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
        unauthorized = functools.partial(self.refuse, UNAUTHORIZED)
        self.live = LiveConnection(self.context, unauthorized, self._view.token_watch)
        self.context.live = self.live
        self._init_deadline: Timer | None = None
        self._init_missed: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        self._view.connections.add(self)
        try:
            if await self._admitted():
                self._arm_init_deadline()
                await cast(Any, super()).handle()
        finally:
            if self._init_deadline is not None:
                self._init_deadline.cancel()
            self.live.stop()
            try:  # a handler gone from `connections` holds no slot any more
                await self.live.slot.release()
            finally:
                self._view.connections.discard(self)

    async def _admitted(self) -> bool:
        """Take the socket's slot of its client address, or close it saying why not."""
        try:
            await self.live.slot.open()
        except TooManySockets as exc:
            await self.refuse(TOO_MANY, str(exc))
            return False
        except ApiError as exc:
            await self.refuse(TRY_AGAIN_LATER, f"{exc.message}; try again later")
            return False
        return True

    def _arm_init_deadline(self) -> None:
        clock = self.context.app.clock
        timeout = self.context.settings.connection_init_timeout_seconds
        self._init_deadline = clock.call_at(clock.time() + timeout, self._missed_init)

    def _missed_init(self) -> None:
        self._init_missed = asyncio.create_task(self.refuse(INIT_TIMEOUT, INIT_TIMEOUT_REASON))

    async def handle_connection_init(self, message: Any) -> None:
        if self._init_missed is not None:
            return  # too late: the socket is closing
        if self._init_deadline is not None:
            self._init_deadline.cancel()
        try:
            await cast(Any, super()).handle_connection_init(message)
        except TooManySockets as exc:  # raised by the view's on_ws_connect, before any ack
            await self.refuse(TOO_MANY, str(exc))
            return
        if cast(Any, self).connection_acknowledged:
            self.live.start()

    async def operation_refusal(self, in_flight: int, message: Any) -> ApiError | None:
        """Why one more operation (`message`, a subscribe or start) must not start on this
        socket, or None to run it."""
        try:
            problem = await self.live.token_problem()
        except ApiError:  # the token store cannot answer: as for the token watch, the
            problem = None  # token's last answer stands (Redis down: revoking fails too)
        if problem is not None:
            return Unauthenticated(problem)
        return await operation_refusal(self.context, in_flight, message)

    async def refused(self, operation_id: str, refusal: ApiError) -> None:
        """Send the refusal as the operation's error; a token no longer good then closes
        the socket (4401), as the token watch would."""
        with contextlib.suppress(*SEND_FAILURES):
            await self.send_error(operation_id, error_payload(refusal, self.context.request_id))
        if isinstance(refusal, Unauthenticated):
            self.live.end(refusal.message)

    async def send_error(self, operation_id: str, error: GraphQLFormattedError) -> None:
        """Send the protocol's error message for one operation."""
        raise NotImplementedError

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

    async def refuse(self, code: int, reason: str) -> None:
        """Stop every operation and close with `code` and `reason`, as the protocol says."""
        raise NotImplementedError

    async def go_away(self, code: int, reason: str, drain_seconds: float) -> None:
        """Let queued grouped frames go out (up to drain_seconds), stop the operations (up
        to STOP_OPERATIONS_SECONDS: one that ignores its cancel must not hold shutdown, and
        the SIGTERM behind it, back), then close with `code`."""
        deadline = time.monotonic() + drain_seconds
        for member in list(self.members):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await member.drained()
        try:
            async with asyncio.timeout(STOP_OPERATIONS_SECONDS):
                await self.cancel_operations()
        except TimeoutError:
            log.warning("a websocket's operations did not stop in time; closing it anyway")
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

    def on_request_accepted(self) -> None:
        """No strawberry timer: LiveHandler's connection_init deadline covers both protocols."""

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            refusal = await self.operation_refusal(len(self.operations), message)
            if refusal is not None:
                await self.refused(message["id"], refusal)
                return
        await super().handle_subscribe(message)

    async def send_error(self, operation_id: str, error: GraphQLFormattedError) -> None:
        await self.send_message({"id": operation_id, "type": "error", "payload": [error]})

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

    async def refuse(self, code: int, reason: str) -> None:
        await self.cancel_operations()
        with contextlib.suppress(*SEND_FAILURES):
            await self.websocket.close(code=code, reason=reason)


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

    async def handle_start(self, message: Any) -> None:
        operation_id = message["id"]
        if self.connection_acknowledged:
            in_flight = len(self.tasks) - (operation_id in self.tasks)  # a reused id replaces
            refusal = await self.operation_refusal(in_flight, message)
            if refusal is not None:
                await self.refused(operation_id, refusal)
                return
        await super().handle_start(message)

    async def send_error(self, operation_id: str, error: GraphQLFormattedError) -> None:
        await self.send_message(ErrorMessage(type="error", id=operation_id, payload=error))

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

    async def refuse(self, code: int, reason: str) -> None:
        """The legacy protocol's way: a `connection_error` saying why, then the close. The
        operations stop afterwards: strawberry awaits each one's teardown (a broker
        unsubscribe on Redis took over 10 s), which must not hold the close back."""
        with contextlib.suppress(*SEND_FAILURES):
            await self.send_message(
                ConnectionErrorMessage(type="connection_error", payload={"message": reason})
            )
            await self.websocket.close(code=code, reason=reason)
        await self.cancel_operations()

"""ASGI middleware: a request id on every HTTP request and websocket; a log line for each."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.telemetry import RequestRecord, Telemetry, begin_request, end_request

request_log = logging.getLogger("consciousness.request")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # logged at DEBUG only
REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            candidate: str = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


class RequestIdMiddleware:
    """Accept a well-formed `X-Request-ID` or make one; put it in scope state and the response.

    Websockets get it in scope state only: their frames skip this layer (fan-out sends many).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        if scope["type"] == "websocket":  # no response headers to add; frames pass untouched
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class TelemetryMiddleware:
    """One log line per HTTP request and websocket, open-websocket gauge, request telemetry.

    Inside RequestIdMiddleware (it reads the request id) and inside the OpenTelemetry ASGI
    middleware when tracing is on (so the line carries the request's trace id). The line:
    request id, method, path, status, duration, user id, operation name(s) and outcome.
    Secrets cannot reach it: it holds no query text, variables or headers.
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry
        self.websockets = telemetry.metrics.websockets if telemetry.metrics else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        record, token = begin_request(self.telemetry)
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403  # closed before the handshake: refused
            await send(message)

        is_websocket = scope["type"] == "websocket"
        if is_websocket and self.websockets is not None:
            self.websockets.inc()
        try:
            await self.app(scope, receive, send_with_status)
        except BaseException:
            status = status or 500
            raise
        finally:
            if is_websocket and self.websockets is not None:
                self.websockets.dec()
            end_request(token)
            _log_request(scope, record, status, time.perf_counter() - started)


def _log_request(scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
    path: str = scope.get("path", "")
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not request_log.isEnabledFor(level):
        return  # probes log at DEBUG: build nothing for a line nobody reads
    method = "WS" if scope["type"] == "websocket" else scope.get("method", "")
    names = [op.name or "anonymous" for op in record.operations]
    if record.operation_count > len(names):  # a long-lived websocket
        names.append(f"+{record.operation_count - len(names)} more")
    outcome = record.outcome or ("ok" if status < 400 else f"http_{status}")
    fields = {
        "request_id": scope.get("state", {}).get("request_id"),
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "user_id": record.user_id,
        "operation": ",".join(names) or None,
        "outcome": outcome,
    }
    request_log.log(
        level,
        "%s %s %s %.1fms op=%s outcome=%s user=%s request_id=%s",
        method,
        path,
        status,
        seconds * 1000,
        fields["operation"] or "-",
        outcome,
        record.user_id or "-",
        fields["request_id"],
        extra={"fields": fields},
    )

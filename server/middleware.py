"""The ASGI middleware every request passes: request id, log line, telemetry, hardening."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import ErrorCode
from server.refusal_hold import RefusalHold
from server.security import (
    CSRF_MESSAGE,
    PREFLIGHT_HEADERS,
    body_too_large_message,
    csrf_risk,
    refusal_messages,
    security_headers,
)
from server.telemetry import RequestRecord, Telemetry, begin_request, end_request

request_log = logging.getLogger("consciousness.request")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # logged at DEBUG only
REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


_PROCESS_PREFIX = os.urandom(8).hex()
_sequence = itertools.count(1)


def new_request_id() -> str:
    """Unique without a random draw per request: this process's random prefix + a counter."""
    return f"{_PROCESS_PREFIX}{next(_sequence):016x}"


def _valid_request_id(sent: bytes) -> str | None:
    """A client's X-Request-ID when it is well formed (it goes into logs), else None."""
    candidate = sent.decode("latin-1")
    return candidate if _VALID_REQUEST_ID.match(candidate) else None


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Everything every HTTP request and websocket passes, in one ASGI layer (one was five).

    - a request id: a well-formed `X-Request-ID`, or a new one; in scope state, and in the
      response headers (websocket frames pass untouched: fan-out sends many);
    - a log line per request and websocket, the open-websocket gauge and the request's
      telemetry record (server/telemetry.py). Inside the OpenTelemetry ASGI middleware when
      tracing is on, so the line carries the trace id. The line holds no query text,
      variables or headers, so secrets cannot reach it;
    - HTTP hardening (server/security.py): the security headers on every response,
      refusals included (a header the application set is kept); request bodies over
      MAX_BODY_BYTES refused with 413, by Content-Length before anything is read and by
      counting the bytes of a chunked body as they arrive; CSRF prevention on POST
      `csrf_path` (None: off);
    - a RATE_LIMITED answer held before it is sent (server/refusal_hold.py; None: never).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        telemetry: Telemetry,
        max_body_bytes: int,
        hsts_max_age_seconds: int,
        csrf_path: str | None,
        refusal_hold: RefusalHold | None = None,
    ) -> None:
        self.app = app
        self.refusal_hold = refusal_hold
        self.telemetry = telemetry
        self.websockets = telemetry.metrics.websockets if telemetry.metrics else None
        self.max_body_bytes = max_body_bytes
        self.csrf_path = csrf_path
        self.headers = security_headers(hsts_max_age_seconds, secure=False)
        self.secure_headers = security_headers(hsts_max_age_seconds, secure=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = declared_length = content_type = None
        preflighted = False
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                request_id = _valid_request_id(value)
            elif name == b"content-length":
                declared_length = value
            elif name == b"content-type":
                content_type = value
            elif name in PREFLIGHT_HEADERS and value:
                preflighted = True
        request_id = request_id or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        added = self.secure_headers if scope.get("scheme") == "https" else self.headers
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        status = 0

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                if record.outcome == ErrorCode.RATE_LIMITED and self.refusal_hold is not None:
                    await self.refusal_hold.hold()
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in added if pair[0] not in present)
                headers.append(id_header)
                message["headers"] = headers
            await send(message)

        async def refuse(code: int, text: str) -> None:
            for message in refusal_messages(code, text):
                await edge_send(message)

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        record, token = begin_request(self.telemetry)
        started = time.perf_counter()
        try:
            if (
                self.csrf_path is not None
                and scope["method"] == "POST"
                and scope["path"] == self.csrf_path
                and csrf_risk(content_type or b"", preflighted)
            ):
                await refuse(400, CSRF_MESSAGE)
            elif declared_length is not None and not declared_length.isdigit():
                await refuse(400, "Content-Length is not a number")
            elif declared_length is not None and int(declared_length) > self.max_body_bytes:
                await refuse(413, body_too_large_message(self.max_body_bytes))
            else:
                try:
                    await self.app(scope, counting_receive, edge_send)
                except _BodyTooLarge:
                    if not status:
                        await refuse(413, body_too_large_message(self.max_body_bytes))
        except BaseException:
            status = status or 500
            raise
        finally:
            end_request(token)
            _log_request(scope, record, status, time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = next((value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), b"")
        scope.setdefault("state", {})["request_id"] = _valid_request_id(sent) or new_request_id()
        status = 0

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403  # closed before the handshake: refused
            await send(message)

        record, token = begin_request(self.telemetry)
        started = time.perf_counter()
        if self.websockets is not None:
            self.websockets.inc()
        try:
            await self.app(scope, receive, edge_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            if self.websockets is not None:
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

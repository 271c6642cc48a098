"""HTTP hardening middleware: security headers, the request body limit, CSRF prevention.

All three are plain ASGI middleware (no body buffering), added by server/app.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        # GraphiQL and the dashboard speak GraphQL over fetch and websockets to this origin;
        # `ws:`/`wss:` because CSP's 'self' did not cover websockets before CSP level 3.
        "connect-src 'self' ws: wss:",
        # `data:`: the pages' empty favicon (`href="data:,"`) and GraphiQL's inline icons.
        # Fonts fall under default-src: the asset build writes GraphiQL's out as files.
        "img-src 'self' data:",
        # 'unsafe-inline' for styles only: GraphiQL's dialogs (Radix's scroll lock) inject a
        # <style> element at run time, which the browser refuses otherwise (the browser
        # tests saw no other refusal). Scripts stay 'self': no inline script anywhere.
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
"""The one Content-Security-Policy of every response: no inline script, no other origin."""

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",  # frame-ancestors 'none' for browsers without CSP 2
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}

PREFLIGHT_HEADERS: Final = ("x-apollo-operation-name", "apollo-require-preflight")
"""Custom headers a browser sends cross-origin only after a CORS preflight (Apollo's list)."""

SIMPLE_CONTENT_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
"""Content types an HTML form (or a no-cors fetch) sends without a CORS preflight."""


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response, and HSTS to those served over TLS.

    TLS means the request's scheme is https: uvicorn sets it from `X-Forwarded-Proto` when
    the peer is one of FORWARDED_ALLOW_IPS (server/cli.py passes that setting on), so a
    proxy terminating TLS counts and a client forging the header does not. A header the
    application set itself is kept.
    """

    def __init__(self, app: ASGIApp, *, hsts_max_age_seconds: int = 31_536_000) -> None:
        self.app = app
        self.hsts = (
            f"max-age={hsts_max_age_seconds}; includeSubDomains" if hsts_max_age_seconds else ""
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if secure and self.hsts:
                    headers.setdefault("strict-transport-security", self.hsts)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


async def _send_json(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"errors": [{"message": message}]})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, counting bytes as they arrive.

    A Content-Length over the limit is refused before anything is read; a chunked body is
    cut off as soon as the bytes received exceed the limit, so a client cannot make the
    server buffer more than `max_bytes` of it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes (MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await _send_json(send, 413, self._message())
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, self._message())


class CsrfMiddleware:
    """CSRF prevention for GraphQL over HTTP at `path` (after Apollo Server's `csrfPrevention`).

    A browser sends a POST cross-origin without asking the server first (no CORS preflight)
    when its content type is one an HTML form can send. Such a POST to `path` is refused
    with 400 unless it carries a header only a preflighted request can
    (`X-Apollo-Operation-Name` or `Apollo-Require-Preflight`); JSON POSTs
    (`application/json`) always preflight cross-origin and pass. (strawberry refuses those
    content types too, with a less telling message; multipart uploads are off, strawberry's
    default.)

    GET is left open, as the GraphQL-over-HTTP spec asks: strawberry runs only queries over
    GET, and credentials here are never ambient (a bearer token the page must add itself,
    no cookies), so a forged cross-site GET is an anonymous read the attacker could make
    directly, whose answer the browser does not show them.
    """

    def __init__(self, app: ASGIApp, *, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and self._refused(scope):
            await _send_json(
                send,
                400,
                "this request could be a cross-site request forgery: send it with "
                "'Content-Type: application/json', or with an 'Apollo-Require-Preflight' "
                "or 'X-Apollo-Operation-Name' header",
            )
            return
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope) -> bool:
        if scope["method"] != "POST":
            return False
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        if any(headers.get(name) for name in PREFLIGHT_HEADERS):
            return False
        content_type = headers.get("content-type", b"").decode("latin-1")
        media_type = content_type.split(";", 1)[0].strip().lower()
        return not media_type or media_type in SIMPLE_CONTENT_TYPES

"""HTTP hardening: security headers, the request body limit, CSRF prevention.

The decisions and the responses; server/middleware.py applies them to every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import orjson
from starlette.types import Message

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

PREFLIGHT_HEADERS: Final = frozenset({b"x-apollo-operation-name", b"apollo-require-preflight"})
"""Custom headers a browser sends cross-origin only after a CORS preflight (Apollo's list)."""

SIMPLE_CONTENT_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
"""Content types an HTML form (or a no-cors fetch) sends without a CORS preflight."""


def security_headers(hsts_max_age_seconds: int, *, secure: bool) -> list[tuple[bytes, bytes]]:
    """The raw headers every response gets; HSTS only on one served over TLS.

    TLS means the request's scheme is https: uvicorn sets it from `X-Forwarded-Proto` when
    the peer is one of FORWARDED_ALLOW_IPS (server/cli.py passes that setting on), so a
    proxy terminating TLS counts and a client forging the header does not.
    """
    headers = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
    if secure and hsts_max_age_seconds:
        value = f"max-age={hsts_max_age_seconds}; includeSubDomains"
        headers.append((b"strict-transport-security", value.encode()))
    return headers


def refusal_messages(status: int, message: str) -> tuple[Message, Message]:
    """The ASGI messages of a JSON error response (the shape GraphQL clients read)."""
    body = orjson.dumps({"errors": [{"message": message}]})
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def body_too_large_message(max_bytes: int) -> str:
    return f"request body too large: at most {max_bytes} bytes (MAX_BODY_BYTES)"


CSRF_MESSAGE: Final = (
    "this request could be a cross-site request forgery: send it with "
    "'Content-Type: application/json', or with an 'Apollo-Require-Preflight' "
    "or 'X-Apollo-Operation-Name' header"
)


def csrf_risk(content_type: bytes, has_preflight_header: bool) -> bool:
    """CSRF prevention for a POST to /graphql (after Apollo Server's `csrfPrevention`).

    A browser sends a POST cross-origin without asking the server first (no CORS preflight)
    when its content type is one an HTML form can send. Such a POST is refused with 400
    unless it carries a header only a preflighted request can (`X-Apollo-Operation-Name` or
    `Apollo-Require-Preflight`); JSON POSTs (`application/json`) always preflight
    cross-origin and pass. (strawberry refuses those content types too, with a less telling
    message; multipart uploads are off, strawberry's default.)

    GET is left open, as the GraphQL-over-HTTP spec asks: strawberry runs only queries over
    GET, and credentials here are never ambient (a bearer token the page must add itself,
    no cookies), so a forged cross-site GET is an anonymous read the attacker could make
    directly, whose answer the browser does not show them.
    """
    if has_preflight_header:
        return False
    media_type = content_type.decode("latin-1").split(";", 1)[0].strip().lower()
    return not media_type or media_type in SIMPLE_CONTENT_TYPES

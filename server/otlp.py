"""POST /v1/traces: OTLP/HTTP trace ingestion, authenticated by an ingestion API key.

The transport only: content type, encoding and size checks, the key, decoding
(server/otlp_codec.py); the spans end in resolvers/ingestion.py. Answers follow the
OTLP/HTTP specification: 200 with an ExportTraceServiceResponse (its `partial_success`
says how many spans were rejected and why, and how many without GenAI attributes were
ignored) in the request's own encoding; failures carry a google.rpc.Status body: 400 for
a malformed body, 401 without a valid key, 403 for a revoked key or an owner who may not
process, 413 for a body or span count over the limits, 415 for another content type or
encoding, 429 with Retry-After when ingestion is at capacity (the one retryable answer
here; the others are not retried by exporters).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from core.errors import ApiError, RateLimited, http_status
from resolvers.api_keys import authenticate_api_key, presented_key
from resolvers.context import AppState, Context
from resolvers.ingestion import enqueue_spans
from resolvers.loaders import Loaders
from server.otlp_codec import (
    CONTENT_TYPES,
    JSON,
    MalformedPayload,
    TooLarge,
    UnsupportedEncoding,
    count_spans,
    decode_request,
    decompressed,
    encode,
    export_response,
    received_spans,
    status_message,
)
from server.otlp_worker import IngestWorker

log = logging.getLogger(__name__)

# google.rpc.Code of each HTTP status answered (the Status message's `code`).
_RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 500: 13, 503: 14}


def _refusal(status: int, message: str, content_type: str, **headers: str) -> Response:
    body = encode(status_message(_RPC_CODES.get(status, 2), message), content_type)
    return Response(body, status_code=status, media_type=content_type, headers=headers)


def traces_endpoint(worker: IngestWorker) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint; `worker` is woken when a request queued spans."""

    async def endpoint(request: Request) -> Response:
        response, queued = await _ingest(request)
        if queued:
            worker.wake()
        return response

    return endpoint


async def _ingest(request: Request) -> tuple[Response, bool]:
    """Queue the spans of one ExportTraceServiceRequest (module docstring); the answer, and
    whether spans were queued."""
    app: AppState = request.state.app_state
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        wanted = " or ".join(CONTENT_TYPES)
        return _refusal(415, f"Content-Type must be {wanted}", JSON), False
    limit = app.settings.max_body_bytes
    try:
        key = presented_key(
            request.headers.get("authorization", ""), request.headers.get("x-api-key", "")
        )
        principal = await authenticate_api_key(app, key)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        body = decompressed(await request.body(), encoding, limit)
        payload = decode_request(body, content_type)
        spans = count_spans(payload)
        if spans > app.settings.otlp_max_spans_per_request:
            message = (
                f"{spans} spans in one request; at most {app.settings.otlp_max_spans_per_request}"
            )
            return _refusal(413, message, content_type), False
        received = received_spans(payload)
        context = Context(
            app=app,
            request=request,
            response=None,
            request_id=request.scope.get("state", {}).get("request_id", ""),
            loaders=Loaders.create(app.stores),
        )
        context.act_as(principal)
        report = await enqueue_spans(context, principal, received)
    except UnsupportedEncoding as exc:
        return _refusal(415, str(exc), content_type), False
    except TooLarge:
        return _refusal(413, f"the decompressed body is over {limit} bytes", content_type), False
    except MalformedPayload as exc:
        return _refusal(400, str(exc), content_type), False
    except RateLimited as exc:
        retry = str(exc.extensions.get("retryAfter", 1))
        return _refusal(429, exc.message, content_type, **{"Retry-After": retry}), False
    except ApiError as exc:
        return _refusal(http_status(exc), exc.message, content_type), False
    if report.rejected or report.ignored:
        log.info(
            "OTLP request: %d spans accepted, %d rejected, %d ignored",
            report.accepted,
            report.rejected,
            report.ignored,
        )
    body = encode(export_response(report.rejected, report.message), content_type)
    return Response(body, media_type=content_type), report.accepted > 0

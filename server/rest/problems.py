"""GraphQL errors as HTTP: the design's error table as statuses, bodies as RFC 9457 problems.

The body is `application/problem+json`: the standard members (`type` about:blank, `title`
the status phrase, `status`, `detail` the first error's message, `instance` the path),
then the first error's `code`, `requestId` and other extensions (`field`, `retryAfter`,
`limit`, ...), and every error in `errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

from graphql import GraphQLError
from starlette.responses import JSONResponse

from core.errors import HTTP_STATUS, ApiError, ErrorCode, http_status

PROBLEM_JSON: Final = "application/problem+json"
STANDARD_MEMBERS: Final = frozenset({"type", "title", "status", "detail", "instance"})


def status_of(error: GraphQLError, code: str) -> int:
    """The HTTP status of an error: our own error's (503 for a store that is down), else
    its code's; a masked fault is 500."""
    if isinstance(error.original_error, ApiError):
        return http_status(error.original_error)
    try:
        return HTTP_STATUS[ErrorCode(code)]
    except ValueError:
        return 500


def _error_body(error: GraphQLError) -> dict[str, Any]:
    body: dict[str, Any] = {"message": error.message, **(error.extensions or {})}
    if error.path:
        body["path"] = list(error.path)
    return body


def problem(
    status: int,
    detail: str,
    instance: str,
    code: str,
    request_id: str,
    extensions: dict[str, Any] | None = None,
    errors: Sequence[dict[str, Any]] = (),
) -> JSONResponse:
    """A problem-details response; `Retry-After` when the extensions carry `retryAfter`."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "requestId": request_id,
    }
    for name, value in (extensions or {}).items():
        if name not in STANDARD_MEMBERS and name not in body:
            body[name] = value
    body["errors"] = list(errors) or [{"message": detail, "code": code}]
    headers = {}
    retry_after = body.get("retryAfter")
    if isinstance(retry_after, int):
        headers["retry-after"] = str(max(retry_after, 0))
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def graphql_problem(errors: Sequence[GraphQLError], instance: str, request_id: str) -> JSONResponse:
    """The response of an operation that failed: the first error decides the status."""
    bodies = [_error_body(error) for error in errors]
    first = dict(bodies[0])
    message = first.pop("message")
    code = str(first.pop("code", ErrorCode.INTERNAL.value))
    first.pop("requestId", None)
    first.pop("path", None)
    status = status_of(errors[0], code)
    return problem(status, message, instance, code, request_id, first, bodies)


def client_problem(
    status: int, detail: str, instance: str, request_id: str, field: str | None = None
) -> JSONResponse:
    """A request the adapter refuses before any operation runs (body, headers)."""
    extensions = {"field": field} if field is not None else None
    return problem(status, detail, instance, ErrorCode.BAD_USER_INPUT.value, request_id, extensions)

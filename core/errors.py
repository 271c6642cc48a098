"""The project's exception hierarchy: errors whose message is safe to show to a client.

Each class carries the `extensions.code` of the design's error table; `HTTP_STATUS` maps a
code to the status a plain HTTP route answers with. schema/masking.py turns these into
GraphQL errors and masks everything else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

INTERNAL_MESSAGE = "Internal server error"


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    ETHICAL_VIOLATION = "ETHICAL_VIOLATION"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


class ApiError(Exception):
    """An error whose message is safe to show to the client, with extra extension fields."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class Unauthenticated(ApiError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ApiError):
    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    code = ErrorCode.NOT_FOUND


class BadUserInput(ApiError):
    """Bad input; `field` names the argument or input field that is wrong."""

    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        if field is not None:
            extensions["field"] = field
        super().__init__(message, **extensions)


class Conflict(ApiError):
    code = ErrorCode.CONFLICT


class EthicalViolation(ApiError):
    code = ErrorCode.ETHICAL_VIOLATION


class RateLimited(ApiError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(message, retryAfter=retry_after, **extensions)


class ServiceUnavailable(ApiError):
    """A store is down; the client may retry. Mapped to INTERNAL without internal details."""

    code = ErrorCode.INTERNAL


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.ETHICAL_VIOLATION: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}


def http_status(error: ApiError) -> int:
    """The HTTP status of `error` on a non-GraphQL route: 503 when a store is down."""
    if isinstance(error, ServiceUnavailable):
        return 503
    return HTTP_STATUS[error.code]

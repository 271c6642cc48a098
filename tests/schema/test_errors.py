"""The error-code mapping: known errors keep their code and message, anything else is masked."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import strawberry

from core.errors import INTERNAL_MESSAGE, BadUserInput, NotFound, RateLimited
from schema.masking import ErrorCodes


@dataclass
class FakeContext:
    request_id: str = "req-42"


@strawberry.type
class Query:
    @strawberry.field
    def missing(self) -> str:
        raise NotFound("no such agent", id="a1")

    @strawberry.field
    def bad(self) -> str:
        raise BadUserInput("name must not be empty", field="name")

    @strawberry.field
    def limited(self) -> str:
        raise RateLimited("slow down", retry_after=30)

    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("connection string postgresql://secret@db leaked")


schema = strawberry.Schema(query=Query, extensions=[ErrorCodes])


async def _error(query: str) -> tuple[str, dict[str, object]]:
    result = await schema.execute(query, context_value=FakeContext())
    assert result.errors is not None
    error = result.errors[0]
    return error.message, dict(error.extensions or {})


async def test_known_errors_keep_code_message_and_extensions() -> None:
    assert await _error("{ missing }") == (
        "no such agent",
        {"code": "NOT_FOUND", "id": "a1", "requestId": "req-42"},
    )
    assert await _error("{ bad }") == (
        "name must not be empty",
        {"code": "BAD_USER_INPUT", "field": "name", "requestId": "req-42"},
    )
    _, extensions = await _error("{ limited }")
    assert extensions["code"] == "RATE_LIMITED"
    assert extensions["retryAfter"] == 30


async def test_unexpected_errors_are_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    message, extensions = await _error("{ broken }")
    assert message == INTERNAL_MESSAGE
    assert extensions == {"code": "INTERNAL", "requestId": "req-42"}
    assert "secret" not in message
    assert "req-42" in caplog.text
    assert "RuntimeError" in caplog.text

"""Documents too long for the parse cache spend KB from their caller's minute, over HTTP
(websockets: tests/live/test_socket_limits.py); shorter ones never do."""

from __future__ import annotations

from typing import Any

import httpx

from db.allow_list import sha256_hex
from tests.apps import AppClient
from tests.apps import app_with as app_with  # the fixture
from tests.server.test_persisted import apq, signed_in
from tests.support import only_error

BUDGET_KB = 20
# A comment makes it long: 9,016 bytes, so 10 KB of the budget (rounded up).
LONG_ME = "{ me { id } }\n#" + "x" * 9_000
SHORT_ME = "{ me { id } }"


async def send(client: httpx.AsyncClient, **body: Any) -> tuple[dict[str, Any], httpx.Response]:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result, response


def assert_refused(body: dict[str, Any], response: httpx.Response) -> None:
    error = only_error(body)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["limit"] == "LARGE_DOCUMENT_KB_PER_MINUTE"
    assert error["extensions"]["cost"] == 10
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    assert "LARGE_DOCUMENT_KB_PER_MINUTE" in error["message"]


async def test_long_documents_spend_the_callers_minute_and_short_ones_never(
    app_with: AppClient,
) -> None:
    async with app_with(large_document_kb_per_minute=BUDGET_KB) as (client, _stores):
        await signed_in(client, "longdocs")
        for _ in range(BUDGET_KB // 10):
            body, _ = await send(client, query=LONG_ME)
            assert body["data"]["me"]["id"]
        assert_refused(*await send(client, query=LONG_ME))
        for _ in range(30):  # the parse cache serves these: free
            body, _ = await send(client, query=SHORT_ME)
            assert body["data"]["me"]["id"]


async def test_a_refused_long_document_is_not_stored_by_apq(app_with: AppClient) -> None:
    async with app_with(large_document_kb_per_minute=BUDGET_KB) as (client, _stores):
        await signed_in(client, "longapq")
        for _ in range(BUDGET_KB // 10):
            await send(client, query=LONG_ME)
        document = LONG_ME + "y"
        digest = sha256_hex(document)
        assert_refused(*await send(client, query=document, extensions=apq(digest)))
        body, _ = await send(client, extensions=apq(digest))
        assert only_error(body)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_stored_long_document_sent_by_hash_spends_too(app_with: AppClient) -> None:
    async with app_with(large_document_kb_per_minute=BUDGET_KB) as (client, _stores):
        await signed_in(client, "longhash")
        digest = sha256_hex(LONG_ME)
        body, _ = await send(client, query=LONG_ME, extensions=apq(digest))
        assert body["data"]["me"]["id"]
        body, _ = await send(client, extensions=apq(digest))  # parsed again: spends again
        assert body["data"]["me"]["id"]
        assert_refused(*await send(client, extensions=apq(digest)))


async def test_anonymous_callers_spend_per_address_and_users_their_own(
    app_with: AppClient,
) -> None:
    typename = "{ __typename }\n#" + "x" * 9_000
    async with app_with(large_document_kb_per_minute=BUDGET_KB) as (client, _stores):
        for _ in range(BUDGET_KB // 10):
            body, _ = await send(client, query=typename)
            assert body["data"] == {"__typename": "Query"}
        assert_refused(*await send(client, query=typename))
        await signed_in(client, "ownbudget")
        body, _ = await send(client, query=LONG_ME)  # a user's budget is not the address's
        assert body["data"]["me"]["id"]


async def test_no_budget_when_the_setting_is_zero(app_with: AppClient) -> None:
    async with app_with(large_document_kb_per_minute=0) as (client, _stores):
        await signed_in(client, "nobudget")
        for _ in range(BUDGET_KB // 10 + 2):
            body, _ = await send(client, query=LONG_ME)
            assert body["data"]["me"]["id"]

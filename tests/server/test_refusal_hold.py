"""RATE_LIMITED answers over HTTP are held before they are sent (server/refusal_hold.py);
nothing else is, and at most RATE_LIMITED_MAX_HELD are held at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.apps import AppClient
from tests.apps import app_with as app_with  # the fixture
from tests.server.test_observability import metrics_now, value
from tests.support import only_error

HOLD = 2.0
HEALTH = "{ systemHealth { status } }"  # costs 1 of the anonymous budget
SCHEMA = "__schema { queryType { name } }"
THREE_INTROSPECTIONS = f"{{ a: {SCHEMA} b: {SCHEMA} c: {SCHEMA} }}"  # 2 are allowed


async def timed(client: httpx.AsyncClient, query: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query})
    body: dict[str, Any] = response.json()
    return body, time.perf_counter() - started


async def test_a_rate_limited_answer_is_held_and_other_answers_are_not(
    app_with: AppClient,
) -> None:
    async with app_with(query_cost_budget_anonymous=1, rate_limited_hold_seconds=HOLD) as (
        client,
        _,
    ):
        body, seconds = await timed(client, HEALTH)
        assert body["data"]["systemHealth"]["status"]
        assert seconds < HOLD
        body, seconds = await timed(client, THREE_INTROSPECTIONS)
        assert only_error(body)["extensions"]["code"] == "BAD_USER_INPUT"
        assert seconds < HOLD  # a bad request is answered at once
        body, seconds = await timed(client, HEALTH)
        assert only_error(body)["extensions"]["code"] == "RATE_LIMITED"
        assert seconds >= HOLD
        samples = await metrics_now(client)
        assert value(samples, "rate_limited_answers_held_total") == 1
        assert value(samples, "rate_limited_answers_not_held_total") == 0


async def test_a_long_document_refused_before_the_schema_is_held_and_counted(
    app_with: AppClient,
) -> None:
    long_typename = "{ __typename }\n#" + "x" * 9_000  # 10 KB of the budget
    async with app_with(large_document_kb_per_minute=10, rate_limited_hold_seconds=HOLD) as (
        client,
        _,
    ):
        body, seconds = await timed(client, long_typename)
        assert body["data"] == {"__typename": "Query"}
        assert seconds < HOLD
        body, seconds = await timed(client, long_typename)
        assert only_error(body)["extensions"]["code"] == "RATE_LIMITED"
        assert seconds >= HOLD
        samples = await metrics_now(client)
        assert value(samples, "rate_limited_answers_held_total") == 1
        refused = {"operation": "anonymous", "type": "unknown", "outcome": "RATE_LIMITED"}
        assert value(samples, "graphql_operations_total", **refused) == 1


async def test_past_the_most_held_at_once_a_refusal_goes_out_at_once(
    app_with: AppClient,
) -> None:
    async with app_with(
        query_cost_budget_anonymous=1, rate_limited_hold_seconds=HOLD, rate_limited_max_held=1
    ) as (client, _):
        await timed(client, HEALTH)
        answers = await asyncio.gather(*(timed(client, HEALTH) for _ in range(2)))
        for body, _seconds in answers:
            assert only_error(body)["extensions"]["code"] == "RATE_LIMITED"
        held = sorted(seconds for _body, seconds in answers)
        assert held[0] < HOLD <= held[1]
        samples = await metrics_now(client)
        assert value(samples, "rate_limited_answers_held_total") == 1
        assert value(samples, "rate_limited_answers_not_held_total") == 1


async def test_no_hold_when_it_is_switched_off(app_with: AppClient) -> None:
    async with app_with(query_cost_budget_anonymous=1, rate_limited_hold_seconds=0) as (
        client,
        _,
    ):
        await timed(client, HEALTH)
        body, _seconds = await timed(client, HEALTH)
        assert only_error(body)["extensions"]["code"] == "RATE_LIMITED"
        assert "rate_limited_answers_held_total" not in (await client.get("/metrics")).text

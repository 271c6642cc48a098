"""Introspection pays for what it walks and is capped per operation; every query or mutation
runs within its caller's time limit, the smallest for anonymous callers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from graphql import parse

from core.settings import Settings
from schema.cost import introspection_weights, operation_cost
from schema.schema import schema
from server.app import create_app
from tests.apps import AppClient, running
from tests.conftest import empty_tables
from tests.support import FakeClock, bearer, graphql, only_error, register

SCHEMA_TREE = "__schema { types { name fields { name args { name } } } }"
THIRTY_TREES = "{ " + " ".join(f"s{index}: {SCHEMA_TREE}" for index in range(30)) + " }"
WIDE = "{ systemHealth { status checkedAt stores { name ok latencyMs error } } }"  # 16 fields


def test_introspection_costs_every_element_of_the_schema_it_walks() -> None:
    weights = introspection_weights(schema._schema)
    assert weights["__schema"] > len(schema._schema.type_map)  # types, fields, arguments…
    assert 0 < weights["__type"] < weights["__schema"]
    cost = operation_cost(schema._schema, parse("{ " + SCHEMA_TREE + " }"), None, None)
    assert cost == weights["__schema"]
    assert operation_cost(schema._schema, parse(THIRTY_TREES), None, None) == 30 * cost
    assert operation_cost(schema._schema, parse("{ __typename }"), None, None) == 0


async def test_thirty_aliased_schema_trees_are_refused_before_they_run(
    client: httpx.AsyncClient,
) -> None:
    error = only_error(await graphql(client, THIRTY_TREES))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["limit"] == "MAX_QUERY_INTROSPECTIONS"
    assert error["extensions"]["actual"] == 30
    assert "MAX_QUERY_INTROSPECTIONS" in error["message"]
    two = '{ a: __type(name: "Agent") { name } ' + SCHEMA_TREE + " }"
    assert "errors" not in await graphql(client, two)


async def test_introspections_in_fragments_count_where_they_are_spread(
    client: httpx.AsyncClient,
) -> None:
    query = """query Q { ...S a: __type(name: "User") { name } b: __type(name: "Agent") { name } }
    fragment S on Query { __schema { queryType { name } } }"""
    error = only_error(await graphql(client, query))
    assert error["extensions"]["limit"] == "MAX_QUERY_INTROSPECTIONS"
    assert error["extensions"]["actual"] == 3


async def test_introspection_is_counted_against_the_anonymous_budget(
    app_with: AppClient,
) -> None:
    budget = introspection_weights(schema._schema)["__schema"] + 10
    async with app_with(query_cost_budget_anonymous=budget) as (client, _):
        assert "errors" not in await graphql(client, "{ " + SCHEMA_TREE + " }")
        error = only_error(await graphql(client, "{ " + SCHEMA_TREE + " }"))
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["limit"] == "QUERY_COST_BUDGET_ANONYMOUS"


class SteppingClock(FakeClock):
    """While `stepping`, every reading of the monotonic clock moves it on by a second."""

    stepping = True

    def monotonic(self) -> float:
        if self.stepping:
            self.advance(1.0)
        return super().monotonic()


@asynccontextmanager
async def client_of(
    settings: Settings, clock: SteppingClock, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=overrides), clock=clock)
    async with running(app) as started:
        transport = httpx.ASGITransport(app=started.asgi)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client
        finally:
            await empty_tables(started.state.stores)
            await started.state.rate_limiter.clear()


async def test_an_anonymous_operation_over_its_time_limit_is_interrupted_between_fields(
    settings: Settings,
) -> None:
    limited = {"operation_time_limit_anonymous_seconds": 5}
    async with client_of(settings, SteppingClock(), **limited) as client:
        error = only_error(await graphql(client, WIDE))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "OPERATION_TIME_LIMIT_ANONYMOUS_SECONDS"
        assert "longer than 5 s" in error["message"]
        assert (await graphql(client, "{ __typename }"))["data"] == {"__typename": "Query"}
    unlimited = {"operation_time_limit_anonymous_seconds": 0}
    async with client_of(settings, SteppingClock(), **unlimited) as client:
        assert "errors" not in await graphql(client, WIDE)


async def test_signed_in_callers_have_the_larger_time_limit(settings: Settings) -> None:
    clock = SteppingClock()
    clock.stepping = False
    limits = {"operation_time_limit_anonymous_seconds": 5, "operation_time_limit_seconds": 1000}
    async with client_of(settings, clock, **limits) as client:
        headers = bearer((await register(client, "patient"))["accessToken"])
        clock.stepping = True
        assert "errors" not in await graphql(client, WIDE, headers=headers)
        assert only_error(await graphql(client, WIDE))["extensions"]["limit"] == (
            "OPERATION_TIME_LIMIT_ANONYMOUS_SECONDS"
        )


async def test_a_query_waiting_past_its_time_limit_is_cancelled(app_with: AppClient) -> None:
    query = "query Q($t: String!) { selfAwareness(input: {text: $t}) { confidence decision } }"
    async with app_with(operation_time_limit_seconds=0.001) as (client, _):
        payload = await register(client, "hasty")  # anonymous: that default (3 s) applies
        text = "\N{SLIGHTLY SMILING FACE}" * 5000  # the engine's thread: far over 1 ms
        body = await graphql(client, query, {"t": text}, bearer(payload["accessToken"]))
        error = only_error(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "OPERATION_TIME_LIMIT_SECONDS"


async def test_long_documents_are_answered_but_never_kept_in_the_caches(
    client: httpx.AsyncClient,
) -> None:
    from schema.cost import CACHED_QUERY_CHARS
    from schema.pipeline import _cached_parse, _cached_validation

    parsed, validated = _cached_parse.cache_info(), _cached_validation.cache_info()
    for number in range(3):  # each new: a comment is enough to make a document new
        query = f"{{ __typename }}\n# {uuid.uuid4()}" + f"{number}" * CACHED_QUERY_CHARS
        assert (await graphql(client, query))["data"] == {"__typename": "Query"}
    assert _cached_parse.cache_info().misses == parsed.misses
    assert _cached_validation.cache_info().misses == validated.misses
    short = f"{{ __typename }} # {uuid.uuid4()}"  # new, short: kept
    assert (await graphql(client, short))["data"] == {"__typename": "Query"}
    assert _cached_parse.cache_info().misses == parsed.misses + 1


async def test_an_introspection_only_operation_is_answered_from_the_kept_result(
    client: httpx.AsyncClient,
) -> None:
    from schema.pipeline import introspection_results

    query = f"query Q($n: String!) {{ __type(name: $n) {{ name }} }} # {uuid.uuid4()}"
    hits = introspection_results.hits
    first = await graphql(client, query, {"n": "Agent"})
    assert first["data"] == {"__type": {"name": "Agent"}}
    assert introspection_results.hits == hits
    assert await graphql(client, query, {"n": "Agent"}) == first
    assert introspection_results.hits == hits + 1
    # other variables are another result; a document that also reads data is never kept
    assert (await graphql(client, query, {"n": "User"}))["data"] == {"__type": {"name": "User"}}
    mixed = f"{{ __typename systemHealth {{ status }} }} # {uuid.uuid4()}"
    for _ in range(2):
        assert "errors" not in await graphql(client, mixed)
    assert introspection_results.hits == hits + 1

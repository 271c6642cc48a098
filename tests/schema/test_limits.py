"""Abuse limits: each limit refuses an operation over it before it runs, and the same
operation under the limit runs; the parse and validation caches never let one through."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import httpx
from graphql import get_introspection_query, parse

from auth.passwords import hash_password
from core.enums import Role, Tier
from db.repositories.users import create_user
from db.stores import Stores
from resolvers.analytics import MAX_LIMIT as ANALYTICS_MAX_LIMIT
from resolvers.pagination import MAX_PAGE_SIZE
from schema.cost import MAX_COUNTED_SIZE, _kept_costs, operation_cost
from schema.schema import schema
from tests.apps import AppClient
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, error_codes, graphql, login, only_error

_PASSWORD_HASH = hash_password(PASSWORD)

HEALTH = "{ systemHealth { status } }"
HEALTH_STORES = "{ systemHealth { stores { name } } }"  # depth 3
AGENTS = "query Agents($n: Int!) { agents(first: $n) { totalCount edges { node { name } } } }"


async def signed_in(
    client: httpx.AsyncClient, stores: Stores, username: str, tier: Tier = Tier.BASIC
) -> dict[str, str]:
    async with stores.database.session() as session:
        await create_user(
            session,
            username=username,
            email=f"{username}@example.org",
            password_hash=_PASSWORD_HASH,
            roles=[Role.USER],
            tier=tier,
        )
    return bearer((await login(client, username))["accessToken"])


# --- depth --------------------------------------------------------------------------


async def test_too_deep_is_refused_and_the_same_query_under_the_limit_runs(
    app_with: AppClient,
) -> None:
    async with app_with(max_query_depth=2) as (client, _):
        error = only_error(await graphql(client, HEALTH_STORES))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "MAX_QUERY_DEPTH"
        assert error["extensions"]["maximum"] == 2
        assert error["extensions"]["actual"] == 3
        assert "3 levels deep" in error["message"]
        assert "MAX_QUERY_DEPTH" in error["message"]
        # the validation cache now holds this document: it must still be refused
        assert error_codes(await graphql(client, HEALTH_STORES)) == ["BAD_USER_INPUT"]
        assert (await graphql(client, HEALTH))["data"] == {"systemHealth": {"status": "OK"}}
    async with app_with(max_query_depth=3) as (client, _):
        body = await graphql(client, HEALTH_STORES)
        assert "errors" not in body, body


async def test_depth_counts_through_fragments(app_with: AppClient) -> None:
    query = """
    query Deep { ...Health }
    fragment Health on Query { systemHealth { ...Stores } }
    fragment Stores on SystemHealth { stores { ... on StoreHealth { name } } }
    """
    async with app_with(max_query_depth=2) as (client, _):
        error = only_error(await graphql(client, query))
        assert error["extensions"]["limit"] == "MAX_QUERY_DEPTH"
        assert "operation 'Deep'" in error["message"]


# --- aliases ------------------------------------------------------------------------


async def test_too_many_aliases_are_refused(app_with: AppClient) -> None:
    three = "{ a: systemHealth { status } b: systemHealth { status } c: systemHealth { status } }"
    two = "{ a: systemHealth { status } b: systemHealth { status } }"
    spread = "{ ...F ...F } fragment F on Query { a: systemHealth { s: status } }"
    async with app_with(max_query_aliases=2) as (client, _):
        error = only_error(await graphql(client, three))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "MAX_QUERY_ALIASES"
        assert error["extensions"]["actual"] == 3
        assert "MAX_QUERY_ALIASES" in error["message"]
        assert only_error(await graphql(client, spread))["extensions"]["actual"] == 4
        body = await graphql(client, two)
        assert "errors" not in body, body


# --- tokens and bytes ---------------------------------------------------------------


async def test_too_many_tokens_are_refused_naming_the_limit(app_with: AppClient) -> None:
    many = "{ " + " ".join(f"a{i}: __typename" for i in range(10)) + " }"  # 32 tokens
    async with app_with(max_query_tokens=20) as (client, _):
        for _ in range(2):  # the second time from the parser cache's side
            error = only_error(await graphql(client, many))
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert error["extensions"]["limit"] == "MAX_QUERY_TOKENS"
            assert "MAX_QUERY_TOKENS" in error["message"]
        assert "errors" not in await graphql(client, HEALTH)
    async with app_with() as (client, _):  # the same document with the default limit
        body = await graphql(client, many)
        assert "errors" not in body, body


async def test_too_large_a_query_is_refused_before_parsing(app_with: AppClient) -> None:
    padded = HEALTH + " #" + "x" * 300
    async with app_with(max_query_bytes=200) as (client, _):
        error = only_error(await graphql(client, padded))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "MAX_QUERY_BYTES"
        assert "errors" not in await graphql(client, HEALTH)


# --- cost ---------------------------------------------------------------------------


def cost(query: str, **variables: object) -> int:
    return operation_cost(schema._schema, parse(query), None, variables)


def test_cost_counts_objects_and_multiplies_pages() -> None:
    assert cost(HEALTH) == 1
    assert cost(HEALTH_STORES) == 2
    assert cost("{ __typename }") == 0  # introspection's cost: test_introspection_and_time_limits
    # agents: weight 1, then per item (first: 20 by default) 1 + edges 1 + node 1
    assert cost("{ agents { edges { node { name } } } }") == 1 + 20 * 3
    assert cost("{ agents(first: 100) { edges { node { name } } } }") == 1 + 100 * 3
    assert cost(AGENTS, n=7) == 1 + 7 * 3
    assert cost(AGENTS, n="not a number") == 1 + 20 * 3  # the default; execution refuses it
    # a nested page is paid once per item of the outer page
    nested = "{ agents(first: 10) { edges { node { recentSessions(first: 4) { id } } } } }"
    assert cost(nested) == 1 + 10 * (1 + 1 + 1 + (1 + 4 * 1))
    # the engine weighs more
    assert cost('{ ethicalEvaluation(input: {text: "hi"}) { overallScore } }') == 5
    # `first` of comparePeriods is a time range, not a page size
    periods = """{ comparePeriods(metric: AWARENESS_LEVEL,
        first: {start: "2026-01-01T00:00:00Z", end: "2026-01-02T00:00:00Z"},
        second: {start: "2026-01-02T00:00:00Z", end: "2026-01-03T00:00:00Z"}) { delta } }"""
    assert cost(periods) == 5
    # analytics(query: {limit}): the query once, then per row; absent, the default (100)
    analytics = """query A($q: AnalyticsQuery!) { analytics(query: $q) { rows { count } } }"""
    assert cost(analytics, q={"limit": 3}) == 5 + 3 * (1 + 1)
    assert cost(analytics, q={}) == 5 + 100 * (1 + 1)


def test_a_kept_cost_is_one_that_no_variable_changes() -> None:
    """The same document object (as the parse cache hands out) costs what its variables ask."""
    document, plain = parse(AGENTS), parse("{ agents(first: 9) { edges { node { id } } } }")
    for n in (7, 50, 7):
        assert operation_cost(schema._schema, document, None, {"n": n}) == 1 + n * 3
    for _ in range(2):
        assert operation_cost(schema._schema, plain, None, {"n": 50}) == 1 + 9 * 3
    kept = {doc: _kept_costs.get((id(schema._schema), id(doc), None)) for doc in (document, plain)}
    assert kept[document] is None  # its cost reads $n: measured each time
    assert kept[plain] is not None
    other = parse("{ agents(first: 2) { edges { node { id } } } }")
    assert operation_cost(schema._schema, other, None, None) == 1 + 2 * 3


def test_sizes_over_every_resolver_maximum_count_as_that_maximum() -> None:
    assert max(MAX_PAGE_SIZE, ANALYTICS_MAX_LIMIT) <= MAX_COUNTED_SIZE
    huge = "{ agents(first: 1000000) { edges { node { name } } } }"
    assert cost(huge) == 1 + MAX_COUNTED_SIZE * 3  # the resolver refuses `first` itself


def test_cost_of_nested_fragments_is_measured_in_linear_time() -> None:
    levels = 30  # a naive walk would visit 2**30 spreads
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ systemHealth {{ status }} }}")
    document = "{ ...F0 } " + " ".join(fragments)
    started = time.perf_counter()
    assert cost(document) == 2**levels
    assert time.perf_counter() - started < 1


async def test_too_costly_is_refused_and_a_smaller_page_runs(app_with: AppClient) -> None:
    async with app_with(max_query_cost=50) as (client, stores):
        headers = await signed_in(client, stores, "costly")
        body = await graphql(client, AGENTS, {"n": 100}, headers=headers)
        error = only_error(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["limit"] == "MAX_QUERY_COST"
        assert error["extensions"]["actual"] == 301
        assert error["extensions"]["maximum"] == 50
        assert "MAX_QUERY_COST" in error["message"]
        body = await graphql(client, AGENTS, {"n": 10}, headers=headers)
        assert body == {"data": {"agents": {"totalCount": 0, "edges": []}}}


async def test_a_refused_mutation_changes_nothing(app_with: AppClient) -> None:
    create = """mutation { a: createAgent(input: {name: "a", agentType: GENERAL}) { id }
                           b: createAgent(input: {name: "b", agentType: GENERAL}) { id } }"""
    async with app_with(max_query_aliases=1) as (client, stores):
        headers = await signed_in(client, stores, "mutator")
        assert error_codes(await graphql(client, create, headers=headers)) == ["BAD_USER_INPUT"]
        body = await graphql(client, AGENTS, {"n": 10}, headers=headers)
        assert body["data"] == {"agents": {"totalCount": 0, "edges": []}}


async def test_the_hourly_cost_budget_is_counted_per_user(app_with: AppClient) -> None:
    async with app_with(query_cost_budget_basic=40, query_cost_budget_enterprise=0) as (
        client,
        stores,
    ):
        basic = await signed_in(client, stores, "budgeted")
        other = await signed_in(client, stores, "neighbour")
        big = await signed_in(client, stores, "enterprise", Tier.ENTERPRISE)
        first = await graphql(client, AGENTS, {"n": 10}, headers=basic)  # costs 31
        assert "errors" not in first, first
        error = only_error(await graphql(client, AGENTS, {"n": 10}, headers=basic))
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] >= 1
        assert error["extensions"]["limit"] == "QUERY_COST_BUDGET_BASIC"
        assert "QUERY_COST_BUDGET_BASIC" in error["message"]
        # a refused operation spent nothing: a cheaper one (7) still fits the 9 left
        assert "errors" not in await graphql(client, AGENTS, {"n": 2}, headers=basic)
        # another user has a budget of their own, and enterprise is unlimited
        assert "errors" not in await graphql(client, AGENTS, {"n": 10}, headers=other)
        for _ in range(3):
            assert "errors" not in await graphql(client, AGENTS, {"n": 10}, headers=big)


async def test_anonymous_callers_share_a_budget_per_ip(app_with: AppClient) -> None:
    async with app_with(query_cost_budget_anonymous=2) as (client, _):
        assert "errors" not in await graphql(client, HEALTH)
        assert "errors" not in await graphql(client, HEALTH)
        error = only_error(await graphql(client, HEALTH))
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["limit"] == "QUERY_COST_BUDGET_ANONYMOUS"
        # free operations (__typename) are never refused by the budget
        assert (await graphql(client, "{ __typename }"))["data"] == {"__typename": "Query"}


# --- introspection and the defaults our own tools need -------------------------------


async def test_introspection_can_be_turned_off(app_with: AppClient) -> None:
    async with app_with(introspection_enabled=False) as (client, _):
        body = await graphql(client, "{ __schema { types { name } } }")
        assert body["data"] is None
        assert set(error_codes(body)) == {"BAD_USER_INPUT"}
        assert "introspection has been disabled" in body["errors"][0]["message"]  # type: ignore[index]
        assert (await graphql(client, "{ __typename }"))["data"] == {"__typename": "Query"}


async def test_the_defaults_let_graphiql_and_dashboards_through(client: httpx.AsyncClient) -> None:
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    body = await graphql(client, introspection)
    assert body["data"]["__schema"]["queryType"] == {"name": "Query", "kind": "OBJECT"}  # type: ignore[index]
    assert "errors" not in body, body  # no limit refused it, nothing failed
    register = await graphql(
        client,
        "mutation R($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"username": "dash", "email": "dash@example.org", "password": PASSWORD}},
    )
    headers = bearer(register["data"]["register"]["accessToken"])  # type: ignore[index]
    dashboard = """{ agents(first: 100, orderBy: {field: LAST_ACTIVITY, direction: DESC}) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { id name status owner { username }
                       stats { requestCount meanAwareness p95ProcessingTimeMs }
                       recentSessions(first: 5) { id } } } } }"""
    body = await graphql(client, dashboard, headers=headers)
    assert "errors" not in body, body


async def test_batched_requests_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": HEALTH}, {"query": HEALTH}])
    assert response.status_code == 400
    assert "Batching is not enabled" in response.text


async def test_subscriptions_pass_the_same_limits(tmp_path: Path) -> None:
    context = SimpleNamespace(settings=make_settings(tmp_path, max_query_depth=1), app=None)
    deep = "subscription { metricsSummary(windowSeconds: 60) { count } }"  # depth 2
    results = await schema.subscribe(deep, context_value=context)
    first = await anext(aiter(results))  # type: ignore[arg-type]
    assert first.errors[0].extensions["limit"] == "MAX_QUERY_DEPTH"
    costly = """subscription { consciousnessStateChanged(
        agentId: "00000000-0000-0000-0000-000000000000") { state { sessions } } }"""  # 2
    context = SimpleNamespace(settings=make_settings(tmp_path, max_query_cost=1), app=None)
    results = await schema.subscribe(costly, context_value=context)
    first = await anext(aiter(results))  # type: ignore[arg-type]
    assert first.errors[0].extensions["limit"] == "MAX_QUERY_COST"


async def test_the_parse_and_validation_caches_still_hit(client: httpx.AsyncClient) -> None:
    from schema.pipeline import _cached_parse, _cached_validation

    query = "{ systemHealth { status checkedAt } }"
    await graphql(client, query)
    parsed = _cached_parse.cache_info().hits
    validated = _cached_validation.cache_info().hits
    assert "errors" not in await graphql(client, query)
    assert _cached_parse.cache_info().hits == parsed + 1
    assert _cached_validation.cache_info().hits == validated + 1

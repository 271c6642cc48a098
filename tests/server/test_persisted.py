"""Persisted operations: Apollo APQ over POST and GET, its stores, and allow-list mode."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from core.settings import ConfigurationError, load_settings
from db.allow_list import load_allow_list, register_operations, sha256_hex
from db.persisted_queries import InProcessPersistedQueryStore, RedisPersistedQueryStore
from db.stores import Stores
from schema.schema import schema
from tests.apps import AppClient
from tests.conftest import make_settings
from tests.support import bearer, only_error, register, wait_until

HEALTH = "query Health { systemHealth { status } }"
HEALTH_DATA = {"systemHealth": {"status": "OK"}}
GET_HEADERS = {"accept": "application/json"}


def apq(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def get(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    response = await client.get("/graphql", params=query, headers=GET_HEADERS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- APQ ------------------------------------------------------------------------------


async def signed_in(client: httpx.AsyncClient, username: str) -> None:
    """The client sends a new user's access token from now on."""
    client.headers.update(bearer((await register(client, username))["accessToken"]))


async def test_apq_miss_then_register_then_hit_over_post(client: httpx.AsyncClient) -> None:
    await signed_in(client, "apqpost")
    document = HEALTH + " # post"
    digest = sha256_hex(document)
    miss = only_error(await post(client, extensions=apq(digest)))
    assert miss["message"] == "PersistedQueryNotFound"  # what Apollo clients look for
    assert miss["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await post(client, query=document, extensions=apq(digest))
    assert registered == {"data": HEALTH_DATA}
    del client.headers["authorization"]  # a stored document serves anyone
    hit = await post(client, extensions=apq(digest), operationName="Health")
    assert hit == {"data": HEALTH_DATA}


async def test_apq_over_get(client: httpx.AsyncClient) -> None:
    await signed_in(client, "apqget")
    document = HEALTH + " # get"
    digest = sha256_hex(document)
    miss = only_error(await get(client, extensions=apq(digest)))
    assert miss["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await get(client, query=document, extensions=apq(digest)) == {"data": HEALTH_DATA}
    assert await get(client, extensions=apq(digest)) == {"data": HEALTH_DATA}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_anonymous_callers_run_documents_without_storing_them(
    client: httpx.AsyncClient, stores: Stores, authorization: str | None
) -> None:
    """A flood of large anonymous registrations costs the server nothing it keeps."""
    headers = {"authorization": authorization} if authorization else {}
    before = await stores.persisted_queries.bytes_used()
    for index in range(50):
        document = f"{HEALTH} # {index:03d} " + "x" * 90_000
        digest = sha256_hex(document)
        body = await client.post(
            "/graphql", json={"query": document, "extensions": apq(digest)}, headers=headers
        )
        assert body.status_code == 200
        assert await stores.persisted_queries.get(digest) is None
    assert await stores.persisted_queries.bytes_used() == before


async def test_a_hash_that_does_not_match_the_query_is_refused_and_not_stored(
    client: httpx.AsyncClient,
) -> None:
    digest = sha256_hex("{ something else }")
    error = only_error(await post(client, query=HEALTH, extensions=apq(digest)))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "provided sha does not match query"
    miss = only_error(await post(client, extensions=apq(digest)))
    assert miss["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not-hex"}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "yes"},
    ],
)
async def test_malformed_apq_extensions_are_bad_input(
    client: httpx.AsyncClient, extension: dict[str, Any]
) -> None:
    error = only_error(await post(client, extensions=extension))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "persistedQuery" in error["message"]


async def test_persisted_documents_still_pass_the_limits(app_with: AppClient) -> None:
    deep = "{ systemHealth { stores { name } } }"
    digest = sha256_hex(deep)
    async with app_with(max_query_depth=2) as (client, stores):
        await stores.persisted_queries.put(digest, deep)
        error = only_error(await post(client, extensions=apq(digest)))
        assert error["extensions"]["limit"] == "MAX_QUERY_DEPTH"


async def test_apq_can_be_turned_off(app_with: AppClient) -> None:
    async with app_with(persisted_queries_enabled=False) as (client, _):
        error = only_error(await post(client, query=HEALTH, extensions=apq(sha256_hex(HEALTH))))
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
        assert await post(client, query=HEALTH) == {"data": HEALTH_DATA}


async def test_too_large_a_document_is_not_stored(app_with: AppClient) -> None:
    document = HEALTH + " #" + "x" * 500
    async with app_with(max_query_bytes=300) as (client, stores):
        digest = sha256_hex(document)
        error = only_error(await post(client, query=document, extensions=apq(digest)))
        assert error["extensions"]["limit"] == "MAX_QUERY_BYTES"
        assert await stores.persisted_queries.get(digest) is None


# --- the stores -----------------------------------------------------------------------


async def test_the_in_process_store_is_bounded_in_bytes_and_expires() -> None:
    store = InProcessPersistedQueryStore(max_bytes=10, ttl_seconds=60)
    await store.put("a", "AAAA")
    await store.put("b", "BBBB")
    assert await store.get("a") == "AAAA"  # now the most recently used
    await store.put("c", "CCCC")
    assert await store.bytes_used() == 8
    assert await store.get("b") is None  # the least recently used went
    assert await store.get("a") == "AAAA"
    await store.put("a", "A" * 10)  # replacing counts the new size only
    assert await store.bytes_used() == 10
    assert len(store) == 1
    await store.put("huge", "H" * 11)  # larger than the whole budget: not kept
    assert await store.get("huge") is None
    assert await store.get("a") == "A" * 10
    short = InProcessPersistedQueryStore(max_bytes=10, ttl_seconds=0.01)
    await short.put("a", "A")

    async def expired() -> bool:
        return await short.get("a") is None

    await wait_until(expired, "the 10 ms entry expires", 1)


async def test_the_redis_store_is_shared_and_bounded_in_bytes(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    prefix = f"test:apq:{time.time_ns()}:"
    try:
        store = RedisPersistedQueryStore(redis, prefix, max_bytes=10, ttl_seconds=30)
        other_process = RedisPersistedQueryStore(redis, prefix, max_bytes=10, ttl_seconds=30)
        await store.put("a" * 64, "AAAA")
        await store.put("b" * 64, "BBBB")
        assert await other_process.get("a" * 64) == "AAAA"  # shared, and now the newest
        await other_process.put("c" * 64, "CCCC")
        assert await store.get("b" * 64) is None  # the least recently used went
        assert await store.bytes_used() == 8
        await store.put("c" * 64, "C" * 10)
        assert await store.bytes_used() == 10
        assert await store.get("a" * 64) is None
        await store.put("h" * 64, "H" * 11)
        assert await store.get("h" * 64) is None
        assert await store.get("e" * 64) is None
        short = RedisPersistedQueryStore(redis, prefix, max_bytes=10, ttl_seconds=0.001)

        async def expired() -> bool:  # unused for longer than its 1 ms TTL
            return await short.get("c" * 64) is None

        await wait_until(expired, "the 1 ms entry expires", 1)
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*"):
            await redis.delete(key)
        await redis.aclose()


# --- allow-list mode ------------------------------------------------------------------


@pytest.fixture
def allow_list(tmp_path: Path) -> Path:
    path = tmp_path / f"operations-{time.time_ns()}.json"
    register_operations(path, [HEALTH])
    return path


async def test_allow_list_mode_runs_only_registered_operations(
    app_with: AppClient, allow_list: Path
) -> None:
    async with app_with(persisted_operations_file=allow_list, persisted_operations_only=True) as (
        client,
        stores,
    ):
        # registered: by hash, or as the very same text
        assert await post(client, extensions=apq(sha256_hex(HEALTH))) == {"data": HEALTH_DATA}
        assert await post(client, query=HEALTH) == {"data": HEALTH_DATA}
        # anything else is refused before it is parsed, and nothing is stored
        other = "{ systemHealth { status version } }"
        error = only_error(await post(client, query=other))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "PERSISTED_OPERATIONS_ONLY" in error["message"]
        error = only_error(await post(client, query=other, extensions=apq(sha256_hex(other))))
        assert error["extensions"]["limit"] == "PERSISTED_OPERATIONS_ONLY"
        assert await stores.persisted_queries.get(sha256_hex(other)) is None
        miss = only_error(await post(client, extensions=apq(sha256_hex(other))))
        assert miss["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert only_error(await post(client, query="{ syntax error"))["extensions"]["code"] == (
            "BAD_USER_INPUT"
        )


async def test_allow_list_mode_covers_websocket_operations(allow_list: Path) -> None:
    settings = make_settings(
        allow_list.parent, persisted_operations_file=allow_list, persisted_operations_only=True
    )
    context = SimpleNamespace(settings=settings, app=None)
    subscription = "subscription { metricsSummary(windowSeconds: 60) { count } }"
    results = await schema.subscribe(subscription, context_value=context)
    first = await anext(aiter(results))  # type: ignore[arg-type]
    assert first.errors is not None
    assert first.errors[0].extensions["code"] == "BAD_USER_INPUT"
    assert first.errors[0].extensions["limit"] == "PERSISTED_OPERATIONS_ONLY"


def test_a_bad_allow_list_file_stops_the_server_naming_the_setting(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "not-json.json": "{",
        "list.json": "[]",
        "wrong-hash.json": json.dumps({"0" * 64: HEALTH}),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(ConfigurationError, match="PERSISTED_OPERATIONS_FILE"):
            load_allow_list(path)


def test_allow_list_mode_needs_a_file() -> None:
    with pytest.raises(ConfigurationError, match="PERSISTED_OPERATIONS_FILE"):
        load_settings(_env_file=None, persisted_operations_only=True)


def test_register_operations_adds_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    first = register_operations(path, [HEALTH])
    second = register_operations(path, ["{ me { id } }"])
    assert set(load_allow_list(path)) == {*first, *second}


def test_the_register_command_validates_and_adds_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    good = tmp_path / "health.graphql"
    good.write_text(HEALTH)
    bad = tmp_path / "bad.graphql"
    bad.write_text("{ noSuchField }")
    target = tmp_path / "allow-list.json"
    assert main(["operations", "register", str(good), "--output", str(target)]) == 0
    assert capsys.readouterr().out.split() == [sha256_hex(HEALTH), str(good)]
    assert main(["operations", "register", str(bad), "--output", str(target)]) == 2
    assert "noSuchField" in capsys.readouterr().err
    assert dict(load_allow_list(target)) == {sha256_hex(HEALTH): HEALTH}

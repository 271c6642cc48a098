"""HTTP hardening: security headers, HSTS behind TLS, the body limit, CSRF prevention, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.security import CONTENT_SECURITY_POLICY
from tests.apps import AppClient

HEALTH = "{ systemHealth { status } }"


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_policy_allows_only_our_origin_and_no_inline_script() -> None:
    directives = dict([*part.split(" ", 1), ""][:2] for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "http" not in CONTENT_SECURITY_POLICY  # no other origin anywhere


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/graphql", {}),
        ("GET", "/graphql", {"accept": "text/html"}),  # the GraphiQL page
        ("GET", "/health", {}),
        ("GET", "/static/graphiql/index.html", {}),
        ("GET", "/no-such-page", {}),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    json = {"query": HEALTH} if method == "POST" else None
    response = await client.request(method, path, json=json, headers=headers)
    assert_security_headers(response)
    assert "strict-transport-security" not in response.headers  # plain http


async def test_graphiql_page_loads_only_same_origin_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "<script>" not in page.text  # no inline script: script-src 'self' allows none
    for asset in ("/static/graphiql/graphiql.js", "/static/graphiql/graphiql.css"):
        assert f'"{asset}"' in page.text
        response = await client.get(asset)
        assert response.status_code == 200
        assert_security_headers(response)


async def test_hsts_only_over_tls(app_with: AppClient) -> None:
    async with app_with(base_url="https://api.example") as (client, _):
        response = await client.post("/graphql", json={"query": HEALTH})
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
    async with app_with(base_url="https://api.example", hsts_max_age_seconds=0) as (client, _):
        response = await client.post("/graphql", json={"query": HEALTH})
        assert "strict-transport-security" not in response.headers


async def test_a_forged_forwarded_proto_does_not_turn_on_hsts(client: httpx.AsyncClient) -> None:
    # uvicorn rewrites the scheme only for FORWARDED_ALLOW_IPS peers; the app trusts the scope
    response = await client.post(
        "/graphql", json={"query": HEALTH}, headers={"x-forwarded-proto": "https"}
    )
    assert "strict-transport-security" not in response.headers


# --- body size ------------------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_refused_unread(app_with: AppClient) -> None:
    async with app_with(max_body_bytes=1000) as (client, _):
        padded = {"query": HEALTH, "variables": {"pad": "x" * 2000}}
        response = await client.post("/graphql", json=padded)
        assert response.status_code == 413
        assert "MAX_BODY_BYTES" in response.json()["errors"][0]["message"]
        assert_security_headers(response)
        ok = await client.post("/graphql", json={"query": HEALTH})
        assert ok.json() == {"data": {"systemHealth": {"status": "OK"}}}


async def test_a_streamed_body_is_cut_off_at_the_limit(app_with: AppClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ systemHealth { status } }", "variables": {"pad": "'
        for _ in range(1000):
            sent += 1
            yield b"x" * 1024
        yield b'"}}'

    async with app_with(max_body_bytes=8 * 1024) as (client, _):
        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "request body too large" in response.json()["errors"][0]["message"]
        assert sent < 20  # refused while streaming, not after reading the megabyte


# --- CSRF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_posts_a_form_could_send_are_refused(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = '{"query": "mutation { logout(refreshToken: \\"x\\") }"}'
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400
    assert "cross-site request forgery" in response.json()["errors"][0]["message"]


async def test_a_preflight_header_passes_csrf_but_forms_are_still_unsupported(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        content=f'{{"query": "{HEALTH}"}}',
        headers={"content-type": "text/plain", "apollo-require-preflight": "true"},
    )
    assert response.status_code == 400
    assert "cross-site" not in response.text
    assert "Unsupported content type" in response.text
    # multipart uploads are off (strawberry's default)
    response = await client.post(
        "/graphql",
        files={"operations": (None, f'{{"query": "{HEALTH}"}}')},
        headers={"apollo-require-preflight": "true"},
    )
    assert response.status_code == 400
    assert "Unsupported content type" in response.text


async def test_get_runs_queries_but_never_mutations(client: httpx.AsyncClient) -> None:
    headers = {"accept": "application/json"}
    allowed = await client.get("/graphql", params={"query": HEALTH}, headers=headers)
    assert allowed.json() == {"data": {"systemHealth": {"status": "OK"}}}
    mutation = {"query": 'mutation { logout(refreshToken: "x") }'}
    response = await client.get("/graphql", params=mutation, headers=headers)
    assert response.status_code == 400
    assert "mutations are not allowed when using GET" in response.text


async def test_csrf_prevention_can_be_turned_off(app_with: AppClient) -> None:
    async with app_with(csrf_prevention=False) as (client, _):
        response = await client.post(
            "/graphql", content=f'{{"query": "{HEALTH}"}}', headers={"content-type": "text/plain"}
        )
        assert response.status_code == 400
        assert "cross-site" not in response.text  # strawberry's own refusal of the type
        assert "Unsupported content type" in response.text


# --- CORS -----------------------------------------------------------------------------


async def test_cors_allows_only_the_configured_origins(app_with: AppClient) -> None:
    async with app_with(cors_origins=["https://app.example"]) as (client, _):
        preflight = await client.options(
            "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options(
            "/graphql",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        response = await client.post(
            "/graphql", json={"query": HEALTH}, headers={"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in response.headers

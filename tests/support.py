"""Helpers shared by the tests."""

from __future__ import annotations

from typing import Any

import httpx


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    """POST a GraphQL operation and return the decoded body (asserting HTTP 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a failed operation; its data must be null."""
    assert body.get("data") is None, body
    errors = body["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


def error_codes(body: dict[str, object]) -> list[str]:
    """The `extensions.code` of every error in a GraphQL response body."""
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    accessToken refreshToken tokenType expiresIn user { id username roles tier }
  }
}
"""
LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    accessToken refreshToken user { id username roles }
  }
}
"""
PASSWORD = "correct horse battery staple"


async def register(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    """Register `username` through GraphQL and return the AuthPayload."""
    body = await graphql(
        client,
        REGISTER,
        {"input": {"username": username, "email": f"{username}@example.org", "password": PASSWORD}},
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["register"]  # type: ignore[index]
    return payload


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    body = await graphql(client, LOGIN, {"username": username, "password": password})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]  # type: ignore[index]
    return payload

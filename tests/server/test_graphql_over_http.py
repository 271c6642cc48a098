"""GraphQL over HTTP details the conformance audit also checks, asserted directly."""

from __future__ import annotations

import httpx

RESPONSE_JSON = "application/graphql-response+json"


async def test_graphql_response_json_is_used_when_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": RESPONSE_JSON}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == RESPONSE_JSON
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_request_error_is_400_without_data_under_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    for query in ("{ __typename", "{ noSuchField }"):
        response = await client.post(
            "/graphql", json={"query": query}, headers={"accept": RESPONSE_JSON}
        )
        assert response.status_code == 400, query
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_field_error_stays_200_with_data_under_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"accept": RESPONSE_JSON}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_plain_json_clients_keep_200_for_request_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


async def test_a_body_that_is_not_a_json_object_is_a_400_naming_it(
    client: httpx.AsyncClient,
) -> None:
    for body in (b'"x"', b"false", b"0", b"null"):
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "JSON object" in response.text

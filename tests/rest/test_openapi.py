"""openapi.json: the committed document is the generated one, served, and describes every
endpoint with what it really answers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema_rs

from server.rest.endpoints import API_PREFIX, ENDPOINTS
from server.rest.openapi import export_openapi, openapi_document
from tests.rest.conftest import API, MakeUser, create_agent

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.json"


def test_openapi_json_matches_the_code() -> None:
    assert OPENAPI_FILE.read_text() == export_openapi(), "openapi.json is stale: run `make schema`"


def test_every_endpoint_is_documented_once() -> None:
    paths = openapi_document()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert documented == {(e.method, API_PREFIX + e.path) for e in ENDPOINTS}
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_the_served_document_is_the_committed_one(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(OPENAPI_FILE.read_text())


def _validator(name: str) -> jsonschema_rs.Validator:
    """A validator of one component schema, resolving the document's other components."""
    document = openapi_document()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.validator_for(schema)


async def test_answers_validate_against_their_schemas(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    agent = await create_agent(client, ada, active=True)
    answer = await client.post(
        f"{API}/consciousness/process",
        json={"agentId": agent["id"], "input": "I am worried. Can you help me plan?"},
        headers=ada,
    )
    listed = await client.get(f"{API}/agents", headers=ada)
    profile = await client.get(f"{API}/auth/profile", headers=ada)
    for name, body in (
        ("CreateAgentResponse", agent),
        ("ProcessResponse", answer.json()),
        ("ListAgentsResponse", listed.json()),
        ("ProfileResponse", profile.json()),
    ):
        _validator(name).validate(body)
    refused = await client.get(f"{API}/agents/not-an-id", headers=ada)
    _validator("Problem").validate(refused.json())

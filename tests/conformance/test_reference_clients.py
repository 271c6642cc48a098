"""Clients not written here: the graphql-ws reference client, Apollo Client, and Python's gql."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from gql import Client, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.conformance.conftest import run_node
from tests.support import bearer

STEP_SECONDS = 10
PROBES = 50
PROBE_WAIT_SECONDS = 0.2
CREATE = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { id } }"


def test_graphql_ws_client_subscribes_completes_and_resumes(
    server_url: str, access_token: str
) -> None:
    observed = run_node("clients.mjs", f"{server_url}/graphql", access_token)
    created = observed["graphqlWs"]["created"]
    assert created["kind"] == "CREATED"
    resumed = observed["graphqlWs"]["resumed"]
    # After reconnecting with `since`, exactly the two missed events, in order, no gap.
    assert [event["sequence"] for event in resumed] == [
        created["sequence"] + 1,
        created["sequence"] + 2,
    ]
    assert [event["kind"] for event in resumed] == ["UPDATED", "UPDATED"]
    assert {event["agentId"] for event in resumed} == {created["agentId"]}

    apollo = observed["apollo"]
    assert apollo["me"]["username"]
    assert apollo["event"]["kind"] == "CREATED"
    assert apollo["event"]["agentId"] == apollo["agentId"]


async def test_gql_over_http(server_url: str, access_token: str) -> None:
    transport = HTTPXAsyncTransport(url=f"{server_url}/graphql", headers=bearer(access_token))
    async with Client(transport=transport) as session:
        result = await session.execute(gql("{ me { username tier } }"))
    assert result["me"]["tier"] == "BASIC"


@pytest.mark.parametrize(
    "subprotocol",
    [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL],
)
async def test_gql_subscribes_over_both_websocket_protocols(
    server_url: str, access_token: str, subprotocol: str
) -> None:
    transport = WebsocketsTransport(
        url=server_url.replace("http", "ws") + "/graphql",
        init_payload={"Authorization": f"Bearer {access_token}"},
        subprotocols=[subprotocol],
    )
    created: list[str] = []
    async with Client(transport=transport) as session:
        events = session.subscribe(gql("subscription { agentEvents { kind agentId } }"))
        first = asyncio.ensure_future(anext(events))
        async with httpx.AsyncClient() as http:
            # No protocol acknowledges a subscription: create agents until an event arrives.
            while not first.done() and len(created) < PROBES:
                name = f"gql-{uuid.uuid4().hex[:8]}"
                response = await http.post(
                    f"{server_url}/graphql",
                    json={
                        "query": CREATE,
                        "variables": {"i": {"name": name, "agentType": "GENERAL"}},
                    },
                    headers=bearer(access_token),
                )
                created.append(response.json()["data"]["createAgent"]["id"])
                await asyncio.wait({first}, timeout=PROBE_WAIT_SECONDS)
        event = await asyncio.wait_for(first, STEP_SECONDS)
        await events.aclose()
    assert event["agentEvents"]["kind"] == "CREATED"
    assert event["agentEvents"]["agentId"] in created

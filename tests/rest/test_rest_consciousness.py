"""/api/v1/consciousness: process, state and the three analyses; 422, 429 and their bodies."""

from __future__ import annotations

import uuid

import httpx

from tests.apps import AppClient
from tests.rest.conftest import API, MakeUser, create_agent, problem_of
from tests.support import PASSWORD, bearer

THREAT = "I will kill you and your family tonight."


async def test_process_answers_and_moves_the_state(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    agent = await create_agent(client, ada, active=True)
    state_url = f"{API}/consciousness/state"
    before = await client.get(state_url, params={"agentId": agent["id"]}, headers=ada)
    assert before.status_code == 200
    assert before.json()["sessions"] == 0
    answer = await client.post(
        f"{API}/consciousness/process",
        json={"agentId": agent["id"], "input": "My card is 4111 1111 1111 1111"},
        headers=ada,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "FLAGGED"
    assert [v["category"] for v in body["ethicalEvaluation"]["violations"]] == ["PII"]
    assert body["consciousnessState"]["sessions"] == 1
    after = await client.get(state_url, params={"agentId": agent["id"]}, headers=ada)
    assert after.json() == body["consciousnessState"]


async def test_process_refusals(client: httpx.AsyncClient, user: MakeUser) -> None:
    ada, bob = await user("ada"), await user("bob")
    agent = await create_agent(client, ada, active=True)
    url = f"{API}/consciousness/process"
    blocked = await client.post(url, json={"agentId": agent["id"], "input": THREAT}, headers=ada)
    body = problem_of(blocked, 422, "ETHICAL_VIOLATION")
    assert any(v["category"] == "S1" for v in body["violations"])
    others = await client.post(url, json={"agentId": agent["id"], "input": "hi"}, headers=bob)
    problem_of(others, 404, "NOT_FOUND")
    empty = await client.post(url, json={"agentId": agent["id"], "input": ""}, headers=ada)
    assert problem_of(empty, 400, "BAD_USER_INPUT")["field"] == "input"
    no_body = await client.post(url, headers=ada)
    assert problem_of(no_body, 400, "BAD_USER_INPUT")["field"] == "input"
    anonymous = await client.post(url, json={"agentId": agent["id"], "input": "hi"})
    problem_of(anonymous, 401, "UNAUTHENTICATED")
    unknown = await client.get(
        f"{API}/consciousness/state", params={"agentId": str(uuid.uuid4())}, headers=ada
    )
    problem_of(unknown, 404, "NOT_FOUND")
    no_id = await client.get(f"{API}/consciousness/state", headers=ada)
    assert problem_of(no_id, 400, "BAD_USER_INPUT")["field"] == "agentId"


async def test_the_three_analyses(client: httpx.AsyncClient, user: MakeUser) -> None:
    ada = await user("ada")
    text = {"text": "Everyone always fails at this. My card is 4111 1111 1111 1111"}
    awareness = await client.post(f"{API}/consciousness/self-awareness", json=text, headers=ada)
    assert awareness.status_code == 200, awareness.text
    assert 0 <= awareness.json()["confidence"] <= 1
    ethics = await client.post(f"{API}/consciousness/ethical-eval", json=text, headers=ada)
    assert ethics.status_code == 200, ethics.text
    assert "PII" in {v["category"] for v in ethics.json()["violations"]}
    meta = await client.post(f"{API}/consciousness/meta-cognition", json=text, headers=ada)
    assert meta.status_code == 200, meta.text
    assert meta.json()["biasMarkers"]
    with_other = await client.post(
        f"{API}/consciousness/ethical-eval",
        json={**text, "agentId": str(uuid.uuid4())},
        headers=ada,
    )
    problem_of(with_other, 404, "NOT_FOUND")
    problem_of(
        await client.post(f"{API}/consciousness/meta-cognition", json=text), 401, "UNAUTHENTICATED"
    )
    for path in ("self-awareness", "ethical-eval", "meta-cognition"):
        empty = await client.post(f"{API}/consciousness/{path}", json={"text": ""}, headers=ada)
        problem_of(empty, 400, "BAD_USER_INPUT")


async def test_spent_budget_is_429_with_retry_after(app_with: AppClient) -> None:
    async with app_with(query_cost_budget_basic=1) as (client, _stores):
        user = {"username": "ada", "email": "ada@example.org", "password": PASSWORD}
        registered = await client.post(f"{API}/auth/register", json=user)
        assert registered.status_code == 200, registered.text
        ada = bearer(registered.json()["accessToken"])
        refused = await client.post(
            f"{API}/consciousness/self-awareness", json={"text": "hello"}, headers=ada
        )
        body = problem_of(refused, 429, "RATE_LIMITED")
        assert body["retryAfter"] > 0
        assert refused.headers["retry-after"] == str(body["retryAfter"])
        assert body["limit"] == "QUERY_COST_BUDGET_BASIC"

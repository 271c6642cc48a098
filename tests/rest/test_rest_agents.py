"""/api/v1/agents: create, read, update with If-Match, delete, lifecycle, pages, versions."""

from __future__ import annotations

import uuid

import httpx

from tests.apps import AppClient
from tests.rest.conftest import API, MakeUser, create_agent, problem_of
from tests.support import PASSWORD


async def test_create_answers_201_with_location_and_etag(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    response = await client.post(
        f"{API}/agents",
        json={"name": "scout", "agentType": "ANALYTICAL", "description": "reads"},
        headers=ada,
    )
    assert response.status_code == 201, response.text
    agent = response.json()
    assert response.headers["location"] == f"{API}/agents/{agent['id']}"
    assert response.headers["etag"] == '"1"'
    assert (agent["name"], agent["status"], agent["version"]) == ("scout", "INACTIVE", 1)
    fetched = await client.get(response.headers["location"], headers=ada)
    assert fetched.status_code == 200
    assert fetched.json() == agent
    assert fetched.headers["etag"] == '"1"'


async def test_create_refuses_bad_input_naming_the_field(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    missing = await client.post(f"{API}/agents", json={"name": "scout"}, headers=ada)
    assert "agentType" in problem_of(missing, 400, "BAD_USER_INPUT")["detail"]
    blank = await client.post(
        f"{API}/agents", json={"name": " ", "agentType": "ANALYTICAL"}, headers=ada
    )
    assert problem_of(blank, 400, "BAD_USER_INPUT")["field"] == "name"
    anonymous = await client.post(f"{API}/agents", json={"name": "x", "agentType": "ANALYTICAL"})
    problem_of(anonymous, 401, "UNAUTHENTICATED")
    listed = await client.get(f"{API}/agents", headers=ada)
    assert listed.json()["totalCount"] == 0


async def test_duplicate_name_is_409(client: httpx.AsyncClient, user: MakeUser) -> None:
    ada = await user("ada")
    await create_agent(client, ada)
    again = await client.post(
        f"{API}/agents", json={"name": "scout", "agentType": "CREATIVE"}, headers=ada
    )
    problem_of(again, 409, "CONFLICT")


async def test_another_users_agent_and_a_made_up_id_are_404(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada, bob = await user("ada"), await user("bob")
    agent = await create_agent(client, ada)
    problem_of(await client.get(f"{API}/agents/{agent['id']}", headers=bob), 404, "NOT_FOUND")
    problem_of(await client.get(f"{API}/agents/{uuid.uuid4()}", headers=ada), 404, "NOT_FOUND")
    not_an_id = await client.get(f"{API}/agents/not-a-uuid", headers=ada)
    assert problem_of(not_an_id, 400, "BAD_USER_INPUT")["field"] == "id"


async def test_update_needs_if_match_and_refuses_a_stale_version(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    agent = await create_agent(client, ada)
    url = f"{API}/agents/{agent['id']}"
    change = {"description": "reads reports"}
    without = await client.patch(url, json=change, headers=ada)
    assert problem_of(without, 428, "BAD_USER_INPUT")["field"] == "If-Match"
    garbled = await client.patch(url, json=change, headers={**ada, "if-match": "one"})
    assert problem_of(garbled, 400, "BAD_USER_INPUT")["field"] == "If-Match"
    updated = await client.patch(url, json=change, headers={**ada, "if-match": '"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["description"] == "reads reports"
    stale = await client.patch(url, json={"description": "x"}, headers={**ada, "if-match": '"1"'})
    problem_of(stale, 409, "CONFLICT")
    assert (await client.get(url, headers=ada)).json()["description"] == "reads reports"


async def test_delete_answers_204_then_the_agent_is_gone(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada, bob = await user("ada"), await user("bob")
    agent = await create_agent(client, ada)
    url = f"{API}/agents/{agent['id']}"
    problem_of(await client.delete(url, headers=bob), 404, "NOT_FOUND")
    deleted = await client.delete(url, headers=ada)
    assert deleted.status_code == 204
    assert deleted.content == b""
    problem_of(await client.get(url, headers=ada), 404, "NOT_FOUND")
    problem_of(await client.delete(url, headers=ada), 404, "NOT_FOUND")


async def test_lifecycle_and_versions(client: httpx.AsyncClient, user: MakeUser) -> None:
    ada = await user("ada")
    agent = await create_agent(client, ada)
    url = f"{API}/agents/{agent['id']}"
    paused_first = await client.post(f"{url}/pause", headers=ada)
    assert problem_of(paused_first, 400, "BAD_USER_INPUT")["field"] == "status"
    for action, status in (("activate", "ACTIVE"), ("pause", "PAUSED"), ("deactivate", "INACTIVE")):
        response = await client.post(f"{url}/{action}", headers=ada)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
    versions = await client.get(f"{url}/versions", params={"first": 2}, headers=ada)
    assert versions.status_code == 200
    assert [v["version"] for v in versions.json()] == [4, 3]
    older = await client.get(f"{url}/versions", params={"beforeVersion": 2}, headers=ada)
    assert [v["version"] for v in older.json()] == [1]
    too_many = await client.get(f"{url}/versions", params={"first": "many"}, headers=ada)
    assert problem_of(too_many, 400, "BAD_USER_INPUT")["field"] == "first"


async def test_listing_pages_through_link_headers(
    client: httpx.AsyncClient, user: MakeUser
) -> None:
    ada = await user("ada")
    names = {f"agent-{i}" for i in range(5)}
    for name in names:
        await create_agent(client, ada, name)
    seen: list[str] = []
    url: str | None = f"http://testserver{API}/agents?first=2"
    pages = 0
    while url is not None:
        response = await client.get(url, headers=ada)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["totalCount"] == 5
        seen += [edge["node"]["name"] for edge in page["edges"]]
        pages += 1
        link = response.headers.get("link")
        assert (link is not None) == page["pageInfo"]["hasNextPage"]
        url = link.split(">")[0].lstrip("<") if link else None
    assert pages == 3
    assert sorted(seen) == sorted(names)
    filtered = await client.get(
        f"{API}/agents", params={"nameContains": "agent-3", "status": "INACTIVE"}, headers=ada
    )
    assert [e["node"]["name"] for e in filtered.json()["edges"]] == ["agent-3"]
    wrong_status = await client.get(f"{API}/agents", params={"status": "ASLEEP"}, headers=ada)
    assert problem_of(wrong_status, 400, "BAD_USER_INPUT")["field"] == "status"


async def test_cors_lets_a_configured_origin_change_an_agent(app_with: AppClient) -> None:
    async with app_with(cors_origins=["https://app.example"]) as (client, _):
        preflight = await client.options(
            f"{API}/agents/{uuid.uuid4()}",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "PATCH",
                "access-control-request-headers": "authorization, content-type, if-match",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        registered = await client.post(
            f"{API}/auth/register",
            json={"username": "ada", "email": "ada@example.org", "password": PASSWORD},
            headers={"origin": "https://app.example"},
        )
        exposed = registered.headers["access-control-expose-headers"].lower()
        assert {"etag", "location", "link", "retry-after"} <= set(exposed.split(", "))

"""/api/v1/auth: register, login, refresh, logout, profile; and the adapter's own refusals."""

from __future__ import annotations

import httpx

from tests.rest.conftest import API, problem_of
from tests.support import PASSWORD, bearer

ADA = {"username": "ada", "email": "ada@example.org", "password": PASSWORD}


async def test_register_login_refresh_profile_logout(client: httpx.AsyncClient) -> None:
    registered = await client.post(f"{API}/auth/register", json=ADA)
    assert registered.status_code == 200, registered.text
    assert registered.json()["user"]["username"] == "ada"
    login = await client.post(f"{API}/auth/login", json={"username": "ada", "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert set(tokens) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "user"}
    profile = await client.get(f"{API}/auth/profile", headers=bearer(tokens["accessToken"]))
    assert profile.status_code == 200
    assert profile.json()["username"] == "ada"
    assert profile.json()["roles"] == ["USER"]
    refreshed = await client.post(
        f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    spent = await client.post(f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    problem_of(spent, 401, "UNAUTHENTICATED")
    relogin = await client.post(f"{API}/auth/login", json={"username": "ada", "password": PASSWORD})
    second = relogin.json()
    logout = await client.post(
        f"{API}/auth/logout",
        json={"refreshToken": second["refreshToken"]},
        headers=bearer(second["accessToken"]),
    )
    assert logout.status_code == 204, logout.text
    assert logout.content == b""
    revoked = await client.get(f"{API}/auth/profile", headers=bearer(second["accessToken"]))
    problem_of(revoked, 401, "UNAUTHENTICATED")
    assert pair["accessToken"] != second["accessToken"]


async def test_auth_refusals(client: httpx.AsyncClient) -> None:
    assert (await client.post(f"{API}/auth/register", json=ADA)).status_code == 200
    taken = await client.post(f"{API}/auth/register", json={**ADA, "email": "b@example.org"})
    problem_of(taken, 409, "CONFLICT")
    short = await client.post(f"{API}/auth/register", json={**ADA, "password": "short"})
    assert problem_of(short, 400, "BAD_USER_INPUT")["field"] == "password"
    wrong = await client.post(f"{API}/auth/login", json={"username": "ada", "password": "nope"})
    problem_of(wrong, 401, "UNAUTHENTICATED")
    missing = await client.post(f"{API}/auth/login", json={"username": "ada"})
    assert problem_of(missing, 400, "BAD_USER_INPUT")["field"] == "password"
    problem_of(await client.get(f"{API}/auth/profile"), 401, "UNAUTHENTICATED")
    basic = await client.get(f"{API}/auth/profile", headers={"authorization": "Basic eA=="})
    problem_of(basic, 401, "UNAUTHENTICATED")
    no_token = await client.post(f"{API}/auth/refresh", json={})
    assert problem_of(no_token, 400, "BAD_USER_INPUT")["field"] == "refreshToken"
    bad_logout = await client.post(f"{API}/auth/logout", json={"refreshToken": "made-up"})
    problem_of(bad_logout, 401, "UNAUTHENTICATED")


async def test_the_adapter_refuses_bodies_it_cannot_map(client: httpx.AsyncClient) -> None:
    url = f"{API}/auth/login"
    text = await client.post(url, content=b"username=ada", headers={"content-type": "text/plain"})
    problem_of(text, 415, "BAD_USER_INPUT")
    broken = await client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert "not valid JSON" in problem_of(broken, 400, "BAD_USER_INPUT")["detail"]
    array = await client.post(url, json=["ada", PASSWORD])
    assert "JSON object" in problem_of(array, 400, "BAD_USER_INPUT")["detail"]
    extra = await client.post(url, json={"username": "ada", "password": PASSWORD, "admin": True})
    assert problem_of(extra, 400, "BAD_USER_INPUT")["field"] == "admin"
    wrong_type = await client.post(url, json={"username": 7, "password": PASSWORD})
    assert problem_of(wrong_type, 400, "BAD_USER_INPUT")["field"] == "username"
    assert (await client.put(url, json={})).status_code == 405

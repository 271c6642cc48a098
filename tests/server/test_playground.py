"""The self-hosted GraphiQL page, the dashboard page and the static assets they load.

What the pages do in a browser is tested in tests/browser; here: which page is served when,
and that everything a built page or stylesheet refers to is a file we ship.
"""

from __future__ import annotations

import re

import httpx
import pytest

from server.playground import STATIC_DIR
from tests.apps import AppClient

HTML = {"accept": "text/html"}
PAGES = ("graphiql/index.html", "dashboard/index.html")


async def test_a_browser_get_on_graphql_is_our_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (STATIC_DIR / "graphiql" / "index.html").read_text()
    assert "/static/graphiql/graphiql.js" in response.text


async def test_the_playground_setting_turns_graphiql_off(app_with: AppClient) -> None:
    async with app_with(playground_enabled=False) as (client, _):
        response = await client.get("/graphql", headers=HTML)
        assert "graphiql" not in response.text.lower()
        # the API itself still answers
        body = (await client.post("/graphql", json={"query": "{ systemHealth { status } }"})).json()
        assert body["data"]["systemHealth"]["status"] == "OK"


async def test_the_dashboard_page_and_its_switch(
    client: httpx.AsyncClient, app_with: AppClient
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert "/static/dashboard/dashboard.js" in response.text
    async with app_with(dashboard_enabled=False) as (off, _):
        assert (await off.get("/dashboard")).status_code == 404


@pytest.mark.parametrize("page", PAGES)
async def test_every_asset_of_a_page_is_served_from_our_origin(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (STATIC_DIR / page).read_text()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handler
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [asset for asset in assets if asset != "data:,"]  # the empty favicon
    assert local
    assert all(asset.startswith("/static/") for asset in local), local
    for asset in local:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.content == (STATIC_DIR / asset.removeprefix("/static/")).read_bytes()


@pytest.mark.parametrize("stylesheet", ["graphiql/graphiql.css", "dashboard/dashboard.css"])
def test_stylesheets_refer_only_to_shipped_files_or_inline_images(stylesheet: str) -> None:
    path = STATIC_DIR / stylesheet
    for url in re.findall(r"url\(\s*[\"']?([^\"')]+)", path.read_text()):
        if url.startswith("data:"):
            assert url.startswith("data:image/"), url[:40]  # fonts are files (CSP font-src)
        else:
            assert not re.match(r"^[a-z]+:|^//", url), url  # no other origin
            assert (path.parent / url.split("?")[0].split("#")[0]).is_file(), url


async def test_missing_static_files_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/no-such-file.js")).status_code == 404
    assert (await client.get("/static/../server/app.py")).status_code == 404

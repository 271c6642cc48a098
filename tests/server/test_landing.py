"""The landing page at `/`, the URLs `serve` prints, and waiting for /health on a fake clock."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from server.announce import wait_for_health
from server.app import create_app
from server.landing import urls_block
from server.security import CONTENT_SECURITY_POLICY
from tests.conftest import make_settings
from tests.support import FakeClock


async def _get_root(tmp_path: Path, **overrides: object) -> httpx.Response:
    app = create_app(make_settings(tmp_path, **overrides))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/")


async def test_landing_page_links_every_page_under_the_csp(tmp_path: Path) -> None:
    response = await _get_root(tmp_path, dashboard_enabled=True, playground_enabled=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    links = set(re.findall(r'href="([^"]+)"', response.text))
    assert {"/graphql", "/dashboard", "/api/v1/docs", "/health", "/ready"} <= links
    assert "GraphiQL" in response.text
    assert "README.md" in response.text
    assert "<script" not in response.text  # script-src 'self': no inline script
    style_src = next(d for d in CONTENT_SECURITY_POLICY.split("; ") if d.startswith("style-src"))
    assert "<style" not in response.text or "'unsafe-inline'" in style_src


async def test_landing_page_leaves_out_what_is_turned_off(tmp_path: Path) -> None:
    response = await _get_root(tmp_path, dashboard_enabled=False, playground_enabled=False)
    assert response.status_code == 200
    assert 'href="/dashboard"' not in response.text
    assert "GraphiQL" not in response.text
    assert 'href="/graphql"' in response.text


def test_the_start_banner_lists_each_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dashboard_enabled=True, playground_enabled=True)
    block = urls_block("http://127.0.0.1:8000", settings, ("Demo sign-in  demo / pw",))
    for path in ("/", "/graphql", "/dashboard", "/api/v1/docs", "/health", "/ready"):
        assert f" http://127.0.0.1:8000{path}\n" in block
    assert "Demo sign-in  demo / pw" in block
    assert block.splitlines()[0] == block.splitlines()[-1] == "=" * len(block.splitlines()[0])


def test_waiting_for_health_gives_up_after_the_timeout() -> None:
    clock = FakeClock()
    probes: list[str] = []

    def refused(url: str) -> bool:
        probes.append(url)
        return False

    assert wait_for_health("http://x", 10.0, clock, probe=refused) is False
    assert 10.0 < clock.monotonic() <= 10.5
    assert len(probes) > 1


def test_waiting_for_health_stops_when_it_answers() -> None:
    clock = FakeClock()
    answers = iter([False, False, True])
    assert wait_for_health("http://x", 10.0, clock, probe=lambda _url: next(answers))
    assert clock.monotonic() == 0.5

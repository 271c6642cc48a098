"""The live dashboard page at /dashboard (its script and styles are in server/static/)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.playground import html_page


async def dashboard_page(_request: Request) -> Response:
    """The dashboard: sign in, then metrics, requests and agents live over websockets."""
    return html_page("dashboard/index.html")

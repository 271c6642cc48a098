"""The self-hosted GraphiQL page, and the browser assets under server/static/.

Every script, stylesheet and font the playground and the dashboard load is a file in
server/static/ (built from web/ by `make assets`, committed, and shipped in the wheel),
served from our own origin at /static/: no CDN, no inline script, so the pages work offline
and under a strict Content-Security-Policy.
"""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
PAGE_HEADERS = {"cache-control": "no-cache"}
MISSING_ASSETS = (
    "<!doctype html><title>assets missing</title>"
    "<p>The browser assets are not built: run <code>make assets</code>.</p>"
)


@functools.cache
def _read_page(relative_path: str) -> str | None:
    path = STATIC_DIR / relative_path
    return path.read_text(encoding="utf-8") if path.is_file() else None


def html_page(relative_path: str) -> HTMLResponse:
    """A built page of server/static/, or 503 naming the build step when it is missing."""
    body = _read_page(relative_path)
    if body is None:
        return HTMLResponse(MISSING_ASSETS, status_code=503, headers=PAGE_HEADERS)
    return HTMLResponse(body, headers=PAGE_HEADERS)


def graphiql_page() -> HTMLResponse:
    """GraphiQL with its header editor, speaking graphql-transport-ws for subscriptions."""
    return html_page("graphiql/index.html")


def api_reference_page() -> HTMLResponse:
    """Swagger UI on /api/v1/openapi.json: the REST endpoints' interactive reference."""
    return html_page("apidocs/index.html")


def static_files() -> StaticFiles:
    """The ASGI app serving server/static/ (mounted at STATIC_PATH), with ETags."""
    return StaticFiles(directory=STATIC_DIR, check_dir=False)

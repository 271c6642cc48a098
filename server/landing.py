"""The landing page at `/`: links to GraphiQL, the dashboard, the REST reference, the docs and
the health checks."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from core.settings import Settings

DOCS_TEXT = "README.md and docs/ in the repository"


@dataclass(frozen=True)
class Link:
    path: str
    title: str
    description: str


def links(settings: Settings) -> list[Link]:
    """The server's pages for people, in the order the page and the start-up banner list them."""
    found = [
        Link(
            "/graphql",
            "GraphiQL" if settings.playground_enabled else "GraphQL endpoint",
            "write and run queries, mutations and subscriptions in the browser"
            if settings.playground_enabled
            else "POST GraphQL requests here (the in-browser playground is turned off)",
        )
    ]
    if settings.dashboard_enabled:
        found.append(
            Link("/dashboard", "Live dashboard", "sign in, then watch metrics and requests live")
        )
    found.append(
        Link("/api/v1/docs", "REST reference", "the REST endpoints and their OpenAPI document")
    )
    found.append(Link("/health", "Health", "the process answers (liveness)"))
    found.append(Link("/ready", "Readiness", "every store answers, with each store's state"))
    if settings.metrics_enabled:
        found.append(Link("/metrics", "Metrics", "Prometheus metrics"))
    return found


# Inline style only: the CSP allows inline styles ('unsafe-inline' in style-src) but no
# inline script, and the page has no script at all.
_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto;
  padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
ul { padding: 0; list-style: none; }
li { margin: .75rem 0; }
a { font-weight: 600; color: #1858c8; }
.muted { color: #5b6475; }
code { background: #eef1f6; padding: .1rem .3rem; border-radius: .2rem; }
"""


def landing_html(settings: Settings, version: str) -> str:
    items = "\n".join(
        f'    <li><a href="{html.escape(link.path)}">{html.escape(link.title)}</a>'
        f" <code>{html.escape(link.path)}</code><br>"
        f'<span class="muted">{html.escape(link.description)}</span></li>'
        for link in links(settings)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Consciousness API</title>
  <link rel="icon" href="data:,">
  <style>{_STYLE}</style>
</head>
<body>
  <h1>Consciousness API</h1>
  <p class="muted">A GraphQL server, version {html.escape(version)}.</p>
  <ul>
{items}
  </ul>
  <p>Documentation: {html.escape(DOCS_TEXT)}. The command line is
  <code>.venv/bin/consciousness</code> (<code>--help</code> lists its commands).</p>
</body>
</html>
"""


def landing_endpoint(settings: Settings, version: str) -> Callable[[Request], Awaitable[Response]]:
    """GET `/`: the page, built once."""
    body = landing_html(settings, version)

    async def landing(_request: Request) -> Response:
        return HTMLResponse(body, headers={"cache-control": "no-cache"})

    return landing


def urls_block(base_url: str, settings: Settings, extra: tuple[str, ...] = ()) -> str:
    """The framed lines `serve` prints once it listens: every page's URL, then `extra`."""
    width = max(len(link.title) for link in links(settings))
    lines = [f"  {'Home':<{width}}  {base_url}/"]
    lines += [f"  {link.title:<{width}}  {base_url}{link.path}" for link in links(settings)]
    lines += [f"  {line}" for line in extra]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, "  Consciousness API is running", *lines, rule])

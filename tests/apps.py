"""An app of the session's store column with some settings changed, and a client on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from sqlmodel import SQLModel
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings
from db.stores import Stores
from resolvers.context import AppState
from server.app import create_app
from tests.servers import free_port
from tests.support import wait_until


@dataclass(frozen=True)
class Running:
    """A started app: `asgi` serves requests with the lifespan's state, as uvicorn would."""

    asgi: ASGIApp
    state: AppState


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Running]:
    """Run `app`'s lifespan; requests through `.asgi` see its state (httpx's transport
    runs no lifespan, so it would not copy the state into each request's scope)."""
    async with app.router.lifespan_context(app) as state:

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                scope = {**scope, "state": dict(state)}
            await app(scope, receive, send)

        yield Running(asgi, state["app_state"])


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[tuple[str, Running]]:
    """uvicorn serving `app` in this event loop on a free port, and the started app.

    Real sockets and protocols, while the test can reach the app's state (and its clock).
    """
    async with running(app) as started, uvicorn_serving(started.asgi) as url:
        yield url, started


@asynccontextmanager
async def uvicorn_serving(asgi: ASGIApp) -> AsyncIterator[str]:
    """uvicorn serving `asgi` (an app already started) in this event loop on a free port."""
    port = free_port()
    config = uvicorn.Config(asgi, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), "uvicorn listens")
    assert not task.done(), task
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


AppClient = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Stores]]]


@pytest.fixture
def app_with(settings: Settings) -> AppClient:
    """`async with app_with(**overrides) as (client, stores)`: emptied again afterwards.

    The client's base URL is `http://t`; pass `base_url=` to change it (https for TLS).
    """

    @asynccontextmanager
    async def make(
        base_url: str = "http://t", **overrides: object
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Stores]]:
        async with running(create_app(settings.model_copy(update=overrides))) as app:
            stores = app.state.stores
            transport = httpx.ASGITransport(app=app.asgi)
            try:
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                    yield client, stores
            finally:
                async with stores.database.session() as session:
                    for table in reversed(SQLModel.metadata.sorted_tables):
                        await session.exec(table.delete())
                await app.state.rate_limiter.clear()

    return make

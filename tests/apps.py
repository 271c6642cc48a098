"""An app of the session's store column with some settings changed, and a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlmodel import SQLModel

from db.stores import Stores
from server.app import create_app
from server.settings import Settings

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
        app = create_app(settings.model_copy(update=overrides))
        async with app.router.lifespan_context(app):
            stores: Stores = app.state.app_state["current"].stores
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                    yield client, stores
            finally:
                async with stores.database.session() as session:
                    for table in reversed(SQLModel.metadata.sorted_tables):
                        await session.exec(table.delete())
                await app.state.app_state["current"].rate_limiter.clear()

    return make

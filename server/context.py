"""The per-request GraphQL context: who is asking, and the process-wide stores and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from db.stores import Stores
from server.settings import Settings


@dataclass(frozen=True)
class AppState:
    """What lives as long as the process: settings, stores, start time."""

    settings: Settings
    stores: Stores
    started_at: datetime
    version: str


@dataclass
class Context:
    app: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    request_id: str
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def stores(self) -> Stores:
        return self.app.stores

    @property
    def settings(self) -> Settings:
        return self.app.settings


Info = strawberry.Info[Context, None]

"""The per-request GraphQL context: who is asking, and the process-wide stores and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from auth.permissions import Principal
from auth.ratelimit import RateLimiter
from auth.tokens import AccessTokens, authenticate
from db.stores import Stores
from resolvers.loaders import Loaders
from resolvers.pagination import CursorCodec
from schema.errors import Unauthenticated
from server.settings import Settings

if TYPE_CHECKING:
    from resolvers.connections import LiveConnection

BEARER_PREFIX = "bearer "


def parse_bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when there is none."""
    if not header:
        return None
    if not header.lower().startswith(BEARER_PREFIX):
        raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
    return header[len(BEARER_PREFIX) :].strip() or None


@dataclass(frozen=True)
class AppState:
    """What lives as long as the process: settings, stores, token signer, rate limiter."""

    settings: Settings
    stores: Stores
    access_tokens: AccessTokens
    rate_limiter: RateLimiter
    cursors: CursorCodec
    started_at: datetime
    version: str


@dataclass
class Context:
    app: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    request_id: str
    loaders: Loaders
    connection_params: dict[str, object] | None = None
    live: LiveConnection | None = None  # websockets: the connection's token and its expiry
    _principal: Principal | None = field(default=None, init=False, repr=False)
    _authenticated: bool = field(default=False, init=False, repr=False)

    @property
    def stores(self) -> Stores:
        return self.app.stores

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def client_ip(self) -> str | None:
        client = self.request.client
        return client.host if client else None

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    def bearer_token(self) -> str | None:
        """The access token: Authorization header, or connection_init's payload on websockets."""
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            value = params.get("Authorization", params.get("authorization", ""))
            header = value if isinstance(value, str) else ""
        else:
            header = self.request.headers.get("authorization", "")
        return parse_bearer(header)

    async def principal(self) -> Principal | None:
        """The verified caller, None when anonymous; a bad token is UNAUTHENTICATED."""
        if not self._authenticated:
            token = self.bearer_token()
            self._principal = (
                await authenticate(self.app.access_tokens, self.stores.tokens, token)
                if token
                else None
            )
            self._authenticated = True
        return self._principal

    @property
    def current_principal(self) -> Principal | None:
        """The principal already verified (None before `principal()` ran, or anonymous)."""
        return self._principal

    def authenticate_as(self, principal: Principal, token: str) -> None:
        """Websockets: a renewed token's principal replaces the connection's from now on."""
        self.connection_params = {
            **(self.connection_params or {}),
            "Authorization": f"Bearer {token}",
        }
        self._principal, self._authenticated = principal, True

    async def require_principal(self) -> Principal:
        principal = await self.principal()
        if principal is None:
            raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
        return principal


Info = strawberry.Info[Context, None]

"""Who an open websocket speaks for, until when, and what happens when that ends.

A websocket authenticates once, in connection_init; its access token expires or is revoked
while the socket stays open. `LiveConnection` keeps the connection's principal and a
watchdog that wakes at the token's `exp` and every `check_seconds` in between to ask the
token store whether the token was revoked (logout, deactivation, a role or tier change).
When the token is no longer good the watchdog calls `close` with the reason, which closes
the socket with the protocol's code (server/websockets.py). `renew_connection_token`
replaces the principal with a fresh token's, for the same user, and pushes the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.websockets import WebSocket

from auth.permissions import Principal
from auth.tokens import authenticate
from schema.errors import BadUserInput, Forbidden
from schema.types.live import ConnectionRenewal
from server.context import Context, Info

log = logging.getLogger(__name__)

CloseCallback = Callable[[str], Awaitable[None]]


class LiveConnection:
    """The authentication state of one websocket, and the watchdog that ends it."""

    def __init__(self, context: Context, close: CloseCallback, check_seconds: float) -> None:
        self.context = context
        self._close = close
        self._check_seconds = check_seconds
        self._changed = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching, once connection_init authenticated someone (anonymous: no watch)."""
        if self._watchdog is None and self.context.current_principal is not None:
            self._watchdog = asyncio.create_task(self._watch(), name="websocket-token-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog

    def renew(self, principal: Principal, token: str) -> None:
        """Use `principal` (from `token`) from now on; the watchdog re-reads its deadline."""
        self.context.authenticate_as(principal, token)
        self._changed.set()

    async def _watch(self) -> None:
        while True:
            principal = self.context.current_principal
            assert principal is not None
            remaining = principal.expires_at - time.time()
            if remaining <= 0:
                await self._end("access token expired")
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, self._check_seconds))
            if self._changed.is_set() or principal.expires_at <= time.time():
                continue  # renewed, or expired: the top of the loop decides
            reason = await self._revocation(principal)
            if reason is not None and self.context.current_principal is principal:
                await self._end(reason)
                return

    async def _revocation(self, principal: Principal) -> str | None:
        """Why the token is no longer good, or None; a store outage keeps the socket open."""
        try:
            check = await self.context.stores.tokens.access_check(principal.jti, principal.user_id)
        except Exception as exc:
            log.warning("could not check a websocket's token: %s", exc)
            return None
        if check.jti_revoked:
            return "access token revoked"
        if check.user_cutoff is not None and principal.issued_at <= check.user_cutoff:
            return "access token no longer valid: sign in again"
        return None

    async def _end(self, reason: str) -> None:
        try:
            await self._close(reason)
        except Exception:
            log.exception("could not close a websocket whose token ended")


async def renew_connection_token(info: Info, access_token: str) -> ConnectionRenewal:
    """Replace this websocket's principal with `access_token`'s, until its expiry.

    Only over a websocket, for the user who opened it, and with the same permissions
    (a role change ends the old token: reconnect). A refused token changes nothing.
    """
    context = info.context
    connection = context.live
    if connection is None or not isinstance(context.request, WebSocket):
        raise BadUserInput(
            "renewConnectionToken works only over a websocket; over HTTP send the new token "
            "in the Authorization header",
            field="accessToken",
        )
    current = await context.require_principal()
    principal = await authenticate(context.app.access_tokens, context.stores.tokens, access_token)
    if principal.user_id != current.user_id:
        raise Forbidden("the new token belongs to another user; open a new connection")
    if principal.permissions != current.permissions:
        raise Forbidden("the new token carries other permissions; open a new connection")
    if principal.expires_at < current.expires_at:
        raise BadUserInput("the new token expires before the current one", field="accessToken")
    connection.renew(principal, access_token)
    return ConnectionRenewal(
        expires_at=datetime.fromtimestamp(principal.expires_at, UTC),
        expires_in=max(0, int(principal.expires_at - time.time())),
    )

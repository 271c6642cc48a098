"""Who an open websocket speaks for, until when, and what happens when that ends.

A websocket authenticates once, in connection_init; its access token expires or is revoked
while the socket stays open. `LiveConnection` keeps the connection's principal and a timer
at the token's `exp`, on the app's clock (the one the token was checked on); `TokenWatch`,
one per process, asks the token store every `check_seconds` whether any watched
connection's token was revoked (logout, deactivation, a role or tier change), all of them
in a few batched lookups rather than a task and a store call per socket. When a token is
no longer good the connection calls `close` with the reason, which closes the socket with
the protocol's code (server/websockets.py). The renewConnectionToken mutation
(resolvers/live.py) replaces the principal with a fresh token's, for the same user,
through `renew`, which moves the timer. Before each new operation the handler asks
`token_problem`, so a revoked token runs nothing more even between two watch checks.
The connection also holds the socket's slot under the caps (server/ws_admission.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from auth.permissions import Principal
from auth.tokens import revocation
from core.clock import Timer
from core.tasks import cancel_and_wait
from db.tokens import TokenStore
from resolvers.context import Context
from server.ws_admission import SocketSlot

log = logging.getLogger(__name__)

CloseCallback = Callable[[str], Awaitable[None]]
CHECK_BATCH = 500  # tokens per store lookup (one Redis MGET of twice as many keys)


class LiveConnection:
    """The authentication state of one websocket: its principal, its expiry timer, and the
    slot it holds under the caps."""

    def __init__(self, context: Context, close: CloseCallback, watch: TokenWatch) -> None:
        self.context = context
        self._close = close
        self._watch = watch
        self._expiry: Timer | None = None
        self._ending: asyncio.Task[None] | None = None
        self.slot = SocketSlot(context.stores.socket_slots, context.settings, context.client_ip)

    def start(self) -> None:
        """Start watching, once connection_init authenticated someone (anonymous: no watch)."""
        if self.context.current_principal is not None and self not in self._watch.connections:
            self._watch.connections.add(self)
            self._arm_expiry()

    def stop(self) -> None:
        """Stop watching (the socket is gone, or is being closed)."""
        self._watch.connections.discard(self)
        if self._expiry is not None:
            self._expiry.cancel()

    async def token_problem(self) -> str | None:
        """Why the connection's token is no longer good, or None (also when anonymous).

        Asked before each operation. The token store answers from this process's copy of
        the revocations (db/revocation_mirror.py, or its own memory), so this costs no
        round trip. A store that cannot answer raises ServiceUnavailable.
        """
        principal = self.context.current_principal
        if principal is None:
            return None
        if principal.expires_at <= self.context.app.clock.time():
            return "access token expired"
        tokens = self.context.stores.tokens
        return revocation(principal, await tokens.access_check(principal.jti, principal.user_id))

    def renew(self, principal: Principal, token: str) -> None:
        """Use `principal` (from `token`) from now on, until its expiry."""
        self.context.authenticate_as(principal, token)
        self._arm_expiry()

    def end(self, reason: str) -> None:
        """Close the connection for `reason`, once; the socket's handler then calls stop()."""
        self.stop()
        if self._ending is None:
            self._ending = asyncio.create_task(self._end(reason), name="websocket-token-ended")

    def _arm_expiry(self) -> None:
        principal = self.context.current_principal
        assert principal is not None
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = self.context.app.clock.call_at(
            principal.expires_at, functools.partial(self.end, "access token expired")
        )

    async def _end(self, reason: str) -> None:
        try:
            await self._close(reason)
        except Exception:
            log.exception("could not close a websocket whose token ended")


class TokenWatch:
    """This process's authenticated websockets, their revocations checked together."""

    def __init__(self) -> None:
        self.connections: set[LiveConnection] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self, tokens: TokenStore, check_seconds: float) -> None:
        """Check every `check_seconds` until stop(); a store outage keeps sockets open."""
        self._task = asyncio.create_task(self._run(tokens, check_seconds), name="token-watch")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self, tokens: TokenStore, check_seconds: float) -> None:
        while True:
            await asyncio.sleep(check_seconds)
            try:
                await self.check(tokens)
            except Exception as exc:
                log.warning("could not check the websockets' tokens: %s", exc)

    async def check(self, tokens: TokenStore) -> None:
        """End each watched connection whose token the store says was revoked."""
        watched = [(c, c.context.current_principal) for c in self.connections]
        for start in range(0, len(watched), CHECK_BATCH):
            batch = [(c, p) for c, p in watched[start : start + CHECK_BATCH] if p is not None]
            checks = await tokens.access_checks([(p.jti, p.user_id) for _, p in batch])
            for (connection, principal), check in zip(batch, checks, strict=True):
                reason = revocation(principal, check)
                if reason is not None and connection.context.current_principal is principal:
                    connection.end(reason)  # not if renewed meanwhile: the new token decides

"""The per-request context the use cases run in: who is asking, and the process's stores.

server/ builds an `AppState` once per process (in the app's lifespan) and a `Context` per
HTTP request or websocket; everything below server/ only reads them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, ParamSpec, Protocol, TypeVar

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

import engine
from auth.permissions import Principal
from auth.ratelimit import RateLimiter
from auth.tokens import AccessTokens, authenticate
from core.clock import SYSTEM_CLOCK, Clock
from core.errors import Unauthenticated
from core.settings import Settings
from db.crypto import Keyring
from db.stores import Stores
from outbound.language_model import ChatCompletions
from resolvers.loaders import Loaders
from resolvers.pagination import CursorCodec

if TYPE_CHECKING:  # the evaluator's module imports this one
    from resolvers.alert_evaluator import AlertEvaluator

P = ParamSpec("P")
R = TypeVar("R")
BEARER_PREFIX = "bearer "
AUTHENTICATION_REQUIRED = "authentication required: send 'Authorization: Bearer <token>'"


def parse_bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when there is none."""
    if not header:
        return None
    if not header.lower().startswith(BEARER_PREFIX):
        raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
    return header[len(BEARER_PREFIX) :].strip() or None


class EngineRunner(Protocol):
    """Runs an engine function off the event loop (the server's also traces and times it)."""

    async def __call__(self, work: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


async def run_in_thread(work: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """The plain EngineRunner: a worker thread, nothing observed."""
    return await asyncio.to_thread(work, *args, **kwargs)


class EngineFanOut(Protocol):
    """Runs `work(part, *args)` for every part, up to `lanes` at once where the server has
    the cores for it (its engine worker processes); results in the parts' order."""

    @property
    def lanes(self) -> int: ...

    async def run(
        self, work: Callable[..., R], parts: Sequence[object], /, *args: object
    ) -> list[R]: ...


@dataclass(frozen=True)
class InTurn:
    """The plain EngineFanOut: one lane, any parts in turn in one worker thread."""

    lanes: ClassVar[int] = 1

    async def run(
        self, work: Callable[..., R], parts: Sequence[object], /, *args: object
    ) -> list[R]:
        return await asyncio.to_thread(lambda: [work(part, *args) for part in parts])


class RenewableConnection(Protocol):
    """An open websocket as the use cases see it: its token can be replaced while it lives."""

    def renew(self, principal: Principal, token: str) -> None: ...


# The paths that write an agent's state, as AppState.state_retries counts them.
PROCESS_PATH, OTLP_PATH = "process", "otlp"
STATE_WRITE_PATHS = (PROCESS_PATH, OTLP_PATH)


@dataclass(frozen=True)
class AppState:
    """What lives as long as the process: settings, stores, token signer, rate limiter.

    `guard` is the ethics stage's semantic layer, loaded once at start-up (None: switched
    off by ETHICS_SEMANTIC_GUARD, rules only). `clock` is the one the access tokens are
    issued and checked on (tests move it).
    """

    settings: Settings
    stores: Stores
    access_tokens: AccessTokens
    rate_limiter: RateLimiter
    cursors: CursorCodec
    started_at: datetime
    version: str
    language_model: ChatCompletions
    keyring: Keyring  # seals and opens session texts at rest (db/crypto.py)
    # The JWT secrets, newest first, read once at start (API keys are hashed under them).
    signing_secrets: tuple[str, ...]
    guard: engine.SemanticGuard | None = None
    run_engine: EngineRunner = run_in_thread
    # Who runs the parts of a long series of engine calls, and how many at once.
    engine_fan_out: EngineFanOut = InTurn()
    clock: Clock = SYSTEM_CLOCK
    # The alert evaluator and its notifier (resolvers/alert_evaluator.py), set by the lifespan.
    alerts: AlertEvaluator | None = None
    # Writes of an agent's state that found it moved on since their read and were redone
    # under the row lock, by path (STATE_WRITE_PATHS): /metrics exports them, so contention
    # on single agents is seen, not guessed.
    state_retries: Counter[str] = field(default_factory=Counter)

    async def authenticate(self, authorization: str) -> Principal | None:
        """The caller an `Authorization` value names: None when empty, else verified.

        The one authentication path: HTTP requests, websockets (connection_init's payload)
        and the export downloads all come through here.
        """
        token = parse_bearer(authorization)
        if token is None:
            return None
        return await authenticate(self.access_tokens, self.stores.tokens, token)


@dataclass
class Context:
    app: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    request_id: str
    loaders: Loaders
    connection_params: dict[str, object] | None = None
    live: RenewableConnection | None = None  # websockets: the connection's token and its expiry
    # The document is one the server ships (a REST endpoint's), so the allow-list of
    # PERSISTED_OPERATIONS_ONLY, which is about documents clients send, does not apply.
    server_document: bool = False
    _principal: Principal | None = field(default=None, init=False, repr=False)
    _authenticated: bool = field(default=False, init=False, repr=False)
    _refused: Unauthenticated | None = field(default=None, init=False, repr=False)

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

    def authorization(self) -> str:
        """The Authorization value: the header, or connection_init's payload on websockets."""
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            value = params.get("Authorization", params.get("authorization", ""))
            return value if isinstance(value, str) else ""
        return self.request.headers.get("authorization", "")

    async def principal(self) -> Principal | None:
        """The verified caller, None when anonymous; a bad token is UNAUTHENTICATED."""
        if not self._authenticated:
            try:
                self._principal = await self.app.authenticate(self.authorization())
            except Unauthenticated as refused:
                self._refused = refused  # for verified_principal; asked again, it is re-checked
                raise
            self._authenticated = True
        return self._principal

    def verified_principal(self) -> Principal | None:
        """The caller as `principal()` already found them, without waiting: UNAUTHENTICATED
        when anonymous or their token was refused; None when `principal()` has not run
        (schema/pipeline.py runs it before any field of an operation)."""
        if self._refused is not None and not self._authenticated:
            raise self._refused
        if not self._authenticated:
            return None
        if self._principal is None:
            raise Unauthenticated(AUTHENTICATION_REQUIRED)
        return self._principal

    @property
    def current_principal(self) -> Principal | None:
        """The principal already verified (None before `principal()` ran, or anonymous)."""
        return self._principal

    def fork(self) -> Context:
        """A context for one more operation of this caller: fresh loaders, no socket of its
        own, the principal already verified (so it is not verified again)."""
        own = dataclasses.replace(self, loaders=Loaders.create(self.stores), live=None)
        own._principal, own._authenticated = self._principal, self._authenticated
        return own

    def act_as(self, principal: Principal) -> None:
        """Run as `principal`, verified by other means than a bearer token (an API key)."""
        self._principal, self._authenticated = principal, True

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
            raise Unauthenticated(AUTHENTICATION_REQUIRED)
        return principal


Info = strawberry.Info[Context, None]

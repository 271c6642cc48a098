"""How many websockets a client may hold, and how many operations each may run at once.

A socket takes a slot of its client address as it opens, so the sockets that have not sent
connection_init yet (closed after CONNECTION_INIT_TIMEOUT_SECONDS) and the anonymous ones
count there, against WEBSOCKETS_PER_IP. Once connection_init authenticates a user, the
socket trades that slot for one of the user's, against WEBSOCKETS_PER_USER. The slots live
in the stores' socket counter (db/socket_slots.py): with Redis, one count for every process
of the deployment. A socket over a cap closes with 4429 and a reason naming the setting.
An operation on a socket already running SUBSCRIPTIONS_PER_SOCKET is refused with
BAD_USER_INPUT naming the setting, as every limit in schema/limits.py is; one whose document
is too long for the parse cache spends from its caller's budget first, as over HTTP.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLFormattedError

from core.errors import ApiError
from core.settings import Settings
from db.socket_slots import SocketSlots
from schema.document_budget import large_document_refusal
from schema.limits import over_limit

TOO_MANY = 4429  # graphql-transport-ws's code for "too many"; used on both protocols
TRY_AGAIN_LATER = 1013  # RFC 6455: the socket counter (Redis) is unavailable
INIT_TIMEOUT = 4408  # graphql-transport-ws's code for a missing connection_init
INIT_TIMEOUT_REASON = "Connection initialisation timeout"


class TooManySockets(Exception):
    """A socket over WEBSOCKETS_PER_IP or WEBSOCKETS_PER_USER; the message names the cap."""


class SocketSlot:
    """The one slot a socket holds: its client address's until a user signs in, then theirs."""

    def __init__(self, slots: SocketSlots, settings: Settings, address: str | None) -> None:
        self._slots = slots
        self._settings = settings
        self._address = address or "unknown"
        self._held: tuple[str, str] | None = None  # (key, holder)

    async def open(self) -> None:
        """Take a slot of the client address; TooManySockets when it holds the cap already."""
        cap = self._settings.websockets_per_ip
        if cap:
            self._held = await self._take(
                f"ip:{self._address}",
                cap,
                f"too many websockets from this address (WEBSOCKETS_PER_IP={cap})",
            )

    async def sign_in(self, user_id: str) -> None:
        """Trade the address's slot for one of the user's; TooManySockets when the user holds
        the cap already (the address's slot is kept until `release`)."""
        cap = self._settings.websockets_per_user
        taken = None
        if cap:
            taken = await self._take(
                f"user:{user_id}",
                cap,
                f"too many websockets for this user (WEBSOCKETS_PER_USER={cap})",
            )
        await self.release()
        self._held = taken

    async def release(self) -> None:
        """Give the slot back (the socket is gone)."""
        if self._held is not None:
            key, holder = self._held
            self._held = None
            await self._slots.give_back(key, holder)

    async def _take(self, key: str, cap: int, refusal: str) -> tuple[str, str]:
        holder = await self._slots.take(key, cap)
        if holder is None:
            raise TooManySockets(refusal)
        return key, holder


async def operation_refusal(context: Any, in_flight: int, message: Any) -> ApiError | None:
    """The error for one more operation (`message`, a subscribe or start) on a socket running
    `in_flight`, or None when allowed.

    Every operation in flight counts (a query or mutation only while it runs): each holds a
    task and what its resolvers hold. A long document then spends from its caller's budget
    (schema/document_budget.py), as over HTTP.
    """
    cap = context.settings.subscriptions_per_socket
    if in_flight < cap:
        payload = message.get("payload")
        query = payload.get("query") if isinstance(payload, dict) else None
        return await large_document_refusal(context, query)
    return over_limit(
        f"this websocket runs {in_flight} operations, the most allowed at once "
        "(SUBSCRIPTIONS_PER_SOCKET); complete one first",
        "SUBSCRIPTIONS_PER_SOCKET",
        cap,
        in_flight + 1,
    )


def error_payload(error: ApiError, request_id: str) -> GraphQLFormattedError:
    """A refused operation's error as both protocols send it, with its `extensions.code`."""
    extensions: dict[str, Any] = {"code": error.code.value, **error.extensions}
    if request_id:
        extensions["requestId"] = request_id
    return {"message": error.message, "extensions": extensions}

"""Keyset pagination: signed opaque cursors and the `first` cap.

A cursor is the sort key of the last row seen, as base64url JSON plus an HMAC, so a client
cannot forge one, and a tampered cursor is refused with a clear error instead of silently
paging somewhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from core.errors import BadUserInput

MAX_PAGE_SIZE = 100
SIGNATURE_BYTES = 12
Row = TypeVar("Row")


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"cursor:" + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def encode(self, kind: str, values: Sequence[Any]) -> str:
        payload = orjson.dumps([kind, *values])
        return base64.urlsafe_b64encode(self._sign(payload) + payload).decode().rstrip("=")

    def decode(self, kind: str, cursor: str, field: str = "after") -> list[Any]:
        """The sort key inside a cursor made by `encode` for the same `kind`."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise BadUserInput("malformed cursor", field=field) from None
        signature, payload = raw[:SIGNATURE_BYTES], raw[SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise BadUserInput("invalid cursor: not issued by this server", field=field)
        values = orjson.loads(payload)
        if not isinstance(values, list) or not values or values[0] != kind:
            raise BadUserInput("invalid cursor: it belongs to another listing", field=field)
        return values[1:]


def page_size(first: int, field: str = "first") -> int:
    """`first` checked against the cap: 1 to MAX_PAGE_SIZE."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"{field} must be between 1 and {MAX_PAGE_SIZE}", field=field)
    return first


class LazyCursor:
    """A row's cursor, signed when first read: a listing's clients rarely select every edge's
    cursor, and each is an HMAC (18 µs under cProfile: a 20-agent page's 20 were 3.5 % of it)."""

    __slots__ = ("_make", "_row", "_value")

    def __init__(self, make: Callable[[Any], str], row: Any) -> None:
        self._make, self._row = make, row
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = self._make(self._row)
        return self._value


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a keyset listing: each row with its cursor, and where the page sits.

    schema/types/pagination.py turns it into a Relay connection of GraphQL nodes.
    """

    edges: list[tuple[LazyCursor, Row]]  # (cursor, row), in order
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None  # None when the query does not select totalCount


def build_page(
    rows: Sequence[Row],
    *,
    first: int,
    total_count: int | None,
    has_previous_page: bool,
    cursor_of: Callable[[Row], str],
) -> Page[Row]:
    """A page from up to `first + 1` rows; the extra row only says a next page exists."""
    return Page(
        edges=[(LazyCursor(cursor_of, row), row) for row in rows[:first]],
        has_next_page=len(rows) > first,
        has_previous_page=has_previous_page,
        total_count=total_count,
    )

"""What the token stores keep and answer: refresh records, their use, revocation checks."""

from __future__ import annotations

from dataclasses import dataclass

STORE = "token store"  # named in ServiceUnavailable errors


@dataclass(frozen=True)
class RefreshRecord:
    """What a refresh token stands for; `issued_at` is a Unix time in seconds."""

    user_id: str
    family_id: str
    issued_at: float


@dataclass(frozen=True)
class RefreshUse:
    """The outcome of spending a refresh token.

    `first_use` is False when the token had been spent before: a copy is in someone
    else's hands, and the caller should revoke the family.
    """

    record: RefreshRecord
    first_use: bool


@dataclass(frozen=True)
class AccessCheck:
    """What the store knows about an access token.

    `user_cutoff` is a Unix time in seconds: the user's tokens issued at or before it are
    no longer valid; None when there is no cutoff.
    """

    jti_revoked: bool
    user_cutoff: float | None


def seconds_or_none(stored: bytes | str | None) -> float | None:
    return None if stored is None else float(stored)


def ttl_ms(ttl_seconds: float) -> int:
    """A TTL in whole milliseconds (at least 1), for Redis PX and the in-process store."""
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
    return max(1, round(ttl_seconds * 1000))

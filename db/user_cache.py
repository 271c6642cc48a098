"""The signed-in user's row kept per access token, so `me` needs no database read.

Every change to an account that `me` shows (roles, tier, deactivation, deletion:
resolvers/users.py, resolvers/privacy.py) also cuts off the user's access tokens, and a
revoked token is refused before any resolver runs, on every process within the revocation
mirror's delay. So while a token still authenticates, the row first read for it is the
account as it is. Only the sign-in time moves without a cutoff: a sign-in on this process
forgets the user's rows, and a row is read again after MAX_AGE_SECONDS, so one changed by a
sign-in on another process is at most that old.
"""

from __future__ import annotations

import time
import uuid

from core.lru import LRU
from db.models import User

MAX_AGE_SECONDS = 30.0
MAX_TOKENS = 10_000  # entries kept, least recently used dropped first


class UserCache:
    """User rows by access-token id (jti), see the module docstring."""

    def __init__(self, max_age_seconds: float = MAX_AGE_SECONDS, max_tokens: int = MAX_TOKENS):
        self._max_age_seconds = max_age_seconds
        self._rows: LRU[str, tuple[User, float]] = LRU(max_tokens)

    def get(self, jti: str) -> User | None:
        """The row read for this token, unless it is older than the maximum age."""
        entry = self._rows.get(jti)
        if entry is None:
            return None
        user, read_at = entry
        if time.monotonic() - read_at > self._max_age_seconds:
            self._rows.pop(jti)
            return None
        return user

    def put(self, jti: str, user: User, read_at: float) -> None:
        """Keep `user`, read at `read_at` (monotonic, taken before the read)."""
        self._rows.put(jti, (user, read_at))

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop every row of `user_id` (after a sign-in changed it)."""
        for jti, (user, _) in self._rows.items():
            if user.id == user_id:
                self._rows.pop(jti)

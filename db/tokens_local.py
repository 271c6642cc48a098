"""The in-process token store: every entry expires by a time checked on each read, plus an
occasional sweep on write, so its memory stays proportional to the entries still alive."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Generic, TypeVar

from db.token_records import AccessCheck, RefreshRecord, RefreshUse, ttl_ms

SWEEP_MIN_WRITES = 1024
"""The in-process store sweeps expired entries after at least this many writes."""

V = TypeVar("V")


class _ExpiringMap(Generic[V]):
    """A dict whose entries vanish after their TTL.

    An expired entry is dropped when read; all expired entries are swept once the writes
    since the last sweep reach half the map's size (at least SWEEP_MIN_WRITES), so the
    sweeps cost O(1) per write amortised and memory stays bounded by the live entries.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[V, float]] = {}
        self._writes_since_sweep = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, key: str) -> tuple[V, float] | None:
        """The value and its monotonic expiry time, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry

    def get(self, key: str) -> V | None:
        entry = self.entry(key)
        return None if entry is None else entry[0]

    def set(self, key: str, value: V, ttl_seconds: float, *, expires_at: float = 0.0) -> None:
        """Store `value` for `ttl_seconds`, or until `expires_at` when that is later."""
        deadline = max(time.monotonic() + ttl_ms(ttl_seconds) / 1000, expires_at)
        self._entries[key] = (value, deadline)
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= max(SWEEP_MIN_WRITES, len(self._entries) // 2):
            self.sweep()

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._writes_since_sweep = 0

    def sweep(self) -> None:
        now = time.monotonic()
        expired = [key for key, (_, deadline) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        self._writes_since_sweep = 0


class InProcessTokenStore:
    """Tokens and revocations in this process's memory; for one-worker deployments and tests.

    Every method runs to completion without awaiting, so each is atomic on the event loop.
    """

    backend = "memory"

    def __init__(self) -> None:
        self._refresh: _ExpiringMap[RefreshRecord] = _ExpiringMap()
        self._used: _ExpiringMap[bool] = _ExpiringMap()
        self._revoked_families: _ExpiringMap[bool] = _ExpiringMap()
        self._revoked_jtis: _ExpiringMap[bool] = _ExpiringMap()
        self._user_cutoffs: _ExpiringMap[float] = _ExpiringMap()
        # Each user's refresh-token hashes, so erasing an account finds them (forget_user).
        self._user_refresh: dict[str, set[str]] = {}
        # Each family's access tokens (jti -> Unix expiry), revoked with the family.
        self._family_access: dict[str, dict[str, float]] = {}
        # The address each access token was last used from (jti -> IP), for a window.
        self._sightings: _ExpiringMap[str] = _ExpiringMap()

    def start(self) -> None:
        """Nothing to follow: this process holds every revocation itself."""

    async def save_refresh(
        self, token_hash: str, record: RefreshRecord, ttl_seconds: float
    ) -> None:
        self._refresh.set(token_hash, record, ttl_seconds)
        known = self._user_refresh.get(record.user_id, set())
        live = {h for h in known if self._refresh.get(h) is not None}  # expired ones go
        live.add(token_hash)
        self._user_refresh[record.user_id] = live

    async def forget_user(self, user_id: str) -> int:
        """Delete every refresh token of the user (account erasure); how many there were."""
        hashes = self._user_refresh.pop(user_id, set())
        for token_hash in hashes:
            self._refresh.delete(token_hash)
            self._used.delete(token_hash)
        return len(hashes)

    async def use_refresh(self, token_hash: str, ttl_seconds: float) -> RefreshUse | None:
        """Mark the token spent; None when it is unknown or expired.

        The spent mark lives `ttl_seconds`, and at least as long as the token itself.
        """
        entry = self._refresh.entry(token_hash)
        if entry is None:
            return None
        record, expires_at = entry
        if self._used.get(token_hash) is not None:
            return RefreshUse(record, first_use=False)
        self._used.set(token_hash, True, ttl_seconds, expires_at=expires_at)
        return RefreshUse(record, first_use=True)

    async def note_sighting(self, jti: str, ip: str, window_seconds: float) -> str | None:
        """Note that access token `jti` is used from `ip`; the other address it was used
        from within the last `window_seconds`, if there is one."""
        previous = self._sightings.get(jti)
        self._sightings.set(jti, ip, window_seconds)
        return previous if previous is not None and previous != ip else None

    async def remember_access(self, family_id: str, jti: str, expires_at: float) -> None:
        """Note an access token issued in `family_id`, to revoke it with the family."""
        now = time.time()
        issued = self._family_access.get(family_id, {})
        live = {known: until for known, until in issued.items() if until > now}
        live[jti] = expires_at
        self._family_access[family_id] = live

    async def revoke_family(self, family_id: str, ttl_seconds: float) -> None:
        """No refresh token of the family works any more, nor any access token issued in it."""
        self._revoked_families.set(family_id, True, ttl_seconds)
        now = time.time()
        for jti, expires_at in self._family_access.pop(family_id, {}).items():
            if expires_at > now:
                self._revoked_jtis.set(jti, True, expires_at - now)

    async def is_family_revoked(self, family_id: str) -> bool:
        return self._revoked_families.get(family_id) is not None

    async def revoke_jti(self, jti: str, ttl_seconds: float) -> None:
        self._revoked_jtis.set(jti, True, ttl_seconds)

    async def revoke_user_before(self, user_id: str, timestamp: float, ttl_seconds: float) -> None:
        """Invalidate the user's tokens issued at or before `timestamp` (Unix seconds).

        An existing later cutoff, or a longer remaining TTL, is kept: a cutoff never moves back.
        """
        current = self._user_cutoffs.entry(user_id)
        if current is None:
            self._user_cutoffs.set(user_id, timestamp, ttl_seconds)
        else:
            cutoff, expires_at = current
            self._user_cutoffs.set(
                user_id, max(cutoff, timestamp), ttl_seconds, expires_at=expires_at
            )

    async def access_check(self, jti: str, user_id: str) -> AccessCheck:
        return (await self.access_checks([(jti, user_id)]))[0]

    async def access_checks(self, tokens: Sequence[tuple[str, str]]) -> list[AccessCheck]:
        """`access_check` of each (jti, user id), in order."""
        return [
            AccessCheck(
                jti_revoked=self._revoked_jtis.get(jti) is not None,
                user_cutoff=self._user_cutoffs.get(user_id),
            )
            for jti, user_id in tokens
        ]

    async def ping(self) -> float:
        """Latency in milliseconds: always 0 for memory."""
        return 0.0

    async def close(self) -> None:
        for entries in (
            self._refresh,
            self._used,
            self._revoked_families,
            self._revoked_jtis,
            self._user_cutoffs,
        ):
            entries.clear()
        self._user_refresh.clear()
        self._family_access.clear()

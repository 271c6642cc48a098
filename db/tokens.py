"""Refresh tokens and revocations: in-process by default (db/tokens_local.py), Redis when
REDIS_URL is set (db/tokens_redis.py).

Only the sha256 of an opaque refresh token is ever stored (the caller hashes). Every entry
expires. Redis failures surface as `ServiceUnavailable`, never as redis-py's own exceptions.
"""

from __future__ import annotations

from db.token_records import AccessCheck, RefreshRecord, RefreshUse
from db.tokens_local import InProcessTokenStore
from db.tokens_redis import RedisTokenStore

TokenStore = InProcessTokenStore | RedisTokenStore

__all__ = [
    "AccessCheck",
    "InProcessTokenStore",
    "RedisTokenStore",
    "RefreshRecord",
    "RefreshUse",
    "TokenStore",
]

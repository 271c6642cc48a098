"""The one way to open a Redis client: a pool that waits for a connection instead of failing.

redis-py's default pool raises MaxConnectionsError as soon as its limit is reached; with
thousands of websockets checking their tokens, or a burst of requests, that surfaced as
failed requests. A blocking pool queues the caller for up to POOL_TIMEOUT_SECONDS instead.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

MAX_CONNECTIONS = 200  # per client, per process
POOL_TIMEOUT_SECONDS = 5.0


def open_redis(url: str) -> Redis:
    """A client for `url`; `aclose()` closes its pool too. Opening does no I/O."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_SECONDS
    )
    return Redis.from_pool(pool)

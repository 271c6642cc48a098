"""The one way to open a Redis client: a pool that waits for a connection instead of failing.

redis-py's default pool raises MaxConnectionsError as soon as its limit is reached; under a
burst of requests that surfaced as failed requests. A blocking pool queues the caller for up
to POOL_TIMEOUT_SECONDS instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 200  # per client, per process
POOL_TIMEOUT_SECONDS = 5.0


def open_redis(url: str) -> Redis:
    """A client for `url`; `aclose()` closes its pool too. Opening does no I/O."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_SECONDS
    )
    return Redis.from_pool(pool)


@contextlib.contextmanager
def unavailable_on_redis_error(store: str, *errors: type[Exception]) -> Iterator[None]:
    """Turn a Redis failure (or one of `errors`) into ServiceUnavailable("<store> unavailable").

    The cause goes to the log; the client sees only which store is down.
    """
    caught: tuple[type[Exception], ...] = (RedisError, OSError, *errors)
    try:
        yield
    except caught as exc:
        log.warning("%s: Redis failed: %s: %s", store, type(exc).__name__, exc)
        raise ServiceUnavailable(f"{store} unavailable") from exc

"""Every store the server uses, opened and closed together, and their health checks."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from db.agent_stats_cache import AgentStatsCache
from db.analytics import AnalyticsStore
from db.analytics_writer import DEFAULT_FLUSH_INTERVAL_SECONDS, AnalyticsWriter
from db.persisted_queries import (
    InProcessPersistedQueryStore,
    PersistedQueryStore,
    RedisPersistedQueryStore,
)
from db.publisher import Publisher
from db.pubsub import Broker, InProcessBroker, RedisBroker
from db.redis_client import open_redis
from db.session import Database
from db.socket_slots import InProcessSocketSlots, RedisSocketSlots, SocketSlots
from db.tokens import InProcessTokenStore, RedisTokenStore, TokenStore
from db.user_cache import UserCache
from db.vector_writer import VectorWriter
from db.vectors import VectorStore

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0
HEALTH_CACHE_SECONDS = 1.0  # health checks hammered by clients cost one ping a second


@dataclass(frozen=True)
class StoreHealth:
    name: str
    backend: str
    ok: bool
    latency_ms: float | None
    error: str | None
    detail: str | None = None  # the full failure message: for logs and startup, never clients


@dataclass
class Stores:
    database: Database
    broker: Broker
    analytics: AnalyticsStore
    tokens: TokenStore
    redis: Redis | None = None
    # Apollo APQ documents by sha256 (server/persisted.py).
    persisted_queries: PersistedQueryStore = field(default_factory=InProcessPersistedQueryStore)
    # Websockets counted per user and per client address (server/ws_admission.py).
    socket_slots: SocketSlots = field(default_factory=InProcessSocketSlots)
    # The metrics writer: set and started by the app's lifespan (not by startup checks).
    metrics_writer: AnalyticsWriter | None = None
    # The signed-in user's row per access token, for `me` (db/user_cache.py).
    user_rows: UserCache = field(default_factory=UserCache)
    # Session embeddings (db/vectors.py) and their writer, set and started by the lifespan.
    vectors: VectorStore | None = None
    vector_writer: VectorWriter | None = None
    # Agent statistics between this process's analytics inserts (db/agent_stats_cache.py).
    agent_stats: AgentStatsCache = field(
        default_factory=lambda: AgentStatsCache(DEFAULT_FLUSH_INTERVAL_SECONDS)
    )
    _health: tuple[float, list[StoreHealth]] | None = field(default=None, repr=False)
    # Events published after the request (db/publisher.py), through `broker`.
    publisher: Publisher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.broker)

    @classmethod
    async def open(
        cls,
        *,
        database_url: str,
        redis_url: str,
        clickhouse_url: str,
        redis_key_prefix: str,
        db_pool_size: int = 40,
        db_pool_timeout_seconds: float = 10.0,
        persisted_query_cache_bytes: int = 16 * 1024 * 1024,
        persisted_query_ttl_seconds: float = 86_400,
        qdrant_url: str = "",
        qdrant_api_key: str = "",
        vectors_path: Path | None = None,
        agent_stats_max_age_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS,
    ) -> Stores:
        database = Database(
            database_url, pool_size=db_pool_size, pool_timeout=db_pool_timeout_seconds
        )
        redis = open_redis(redis_url) if redis_url else None
        broker: Broker = (
            RedisBroker(redis, redis_key_prefix) if redis is not None else InProcessBroker()
        )
        tokens: TokenStore = (
            RedisTokenStore(redis, redis_key_prefix) if redis is not None else InProcessTokenStore()
        )
        persisted_queries: PersistedQueryStore = (
            RedisPersistedQueryStore(
                redis, redis_key_prefix, persisted_query_cache_bytes, persisted_query_ttl_seconds
            )
            if redis is not None
            else InProcessPersistedQueryStore(
                persisted_query_cache_bytes, persisted_query_ttl_seconds
            )
        )
        socket_slots: SocketSlots = (
            RedisSocketSlots(redis, redis_key_prefix)
            if redis is not None
            else InProcessSocketSlots()
        )
        vectors = None  # opened first: its failure (a locked folder) leaves nothing open
        if qdrant_url or vectors_path is not None:
            local = vectors_path if vectors_path is not None else Path("vectors")
            vectors = await asyncio.to_thread(VectorStore.open, qdrant_url, qdrant_api_key, local)
        analytics = await AnalyticsStore.open(clickhouse_url)
        return cls(
            vectors=vectors,
            database=database,
            broker=broker,
            analytics=analytics,
            tokens=tokens,
            redis=redis,
            persisted_queries=persisted_queries,
            socket_slots=socket_slots,
            agent_stats=AgentStatsCache(agent_stats_max_age_seconds),
        )

    def analytics_generation(self) -> int:
        """Rows this process's metrics writer has inserted: changes whenever stats may have."""
        return 0 if self.metrics_writer is None else self.metrics_writer.inserted_rows

    def _checks(self) -> list[tuple[str, str, Callable[[], Awaitable[float]]]]:
        return [
            ("database", self.database.backend, self.database.ping),
            ("broker", self.broker.backend, self.broker.ping),
            ("analytics", self.analytics.backend, self.analytics.ping),
            *([("vectors", self.vectors.backend, self.vectors.ping)] if self.vectors else []),
        ]

    async def forget_vectors(
        self, *, agent_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
    ) -> None:
        """Delete an agent's or a user's session embeddings (none kept: nothing to do)."""
        if self.vector_writer is not None:
            await self.vector_writer.forget(agent_id=agent_id, user_id=user_id)

    async def health(self) -> list[StoreHealth]:
        """Ping every store concurrently, each bounded by a timeout; reused for a second.

        The timeouts are `asyncio.timeout`, never `wait_for`, here and on every shutdown
        path: Python 3.11's `wait_for` drops a cancellation that lands in the step where
        what it waits for finishes, and the cancelled caller then runs on.
        """
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < HEALTH_CACHE_SECONDS:
            return self._health[1]
        checks = self._checks()
        results = list(await asyncio.gather(*(_check(*check) for check in checks)))
        self._health = (now, results)
        return results

    async def close(self) -> None:
        """Close every store, each even if another fails to close."""
        await self.publisher.close()  # publishes what is queued before the broker closes
        if self.metrics_writer is not None:
            try:
                await self.metrics_writer.close()  # flushes into analytics before it closes
            except Exception:
                log.exception("error while flushing the analytics writer")
        if self.vector_writer is not None:
            try:
                await self.vector_writer.close()
            except Exception:
                log.exception("error while stopping the vector writer")
        closers = [
            self.broker.close,
            self.tokens.close,
            self.socket_slots.close,
            self.persisted_queries.close,
            self.analytics.close,
            self.database.close,
        ]
        if self.vectors is not None:
            closers.append(self.vectors.close)
        if self.redis is not None:
            closers.append(self.redis.aclose)
        for close in closers:
            try:
                await close()
            except Exception:
                log.exception("error while closing a store")


async def _check(name: str, backend: str, ping: Callable[[], Awaitable[float]]) -> StoreHealth:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):  # see `Stores.health`
            latency = await ping()
    except Exception as exc:  # a health check reports every failure instead of raising it
        # The public answer names only the kind of failure; `detail` is for logs and startup.
        return StoreHealth(
            name,
            backend,
            ok=False,
            latency_ms=None,
            error=type(exc).__name__,
            detail=str(exc) or repr(exc),
        )
    return StoreHealth(name, backend, ok=True, latency_ms=round(latency, 3), error=None)

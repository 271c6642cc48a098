"""Types that describe the server itself: health of each store, version and uptime.

What would help an attacker pick an exploit (the version, the environment, the Python
version, which store software runs) is for admins only (system:read): anyone else asking
for it gets FORBIDDEN. Whether the server and each store are up, and since when, stays
public, for load balancers and status pages.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.extensions import FieldExtension

from auth.permissions import Permission
from db import stores as db_stores
from db.analytics_writer import WriterStats
from db.session import PoolUsage
from resolvers import system
from resolvers.context import Info
from schema.permissions import requires


def admin_only() -> list[FieldExtension]:
    """The extensions of a field only admins may read (system:read)."""
    return requires(Permission.SYSTEM_READ)


HealthStatus = strawberry.enum(
    system.HealthStatus,
    name="HealthStatus",
    description="Overall health: OK when every store answers, DEGRADED otherwise.",
)


@strawberry.type(description="One store's answer to a health check.")
class StoreHealth:
    name: str = strawberry.field(description="database, broker or analytics.")
    backend: str = strawberry.field(
        description="sqlite, postgresql, memory, redis, chdb, clickhouse (system:read).",
        extensions=admin_only(),
    )
    ok: bool
    latency_ms: float | None = strawberry.field(description="Round trip of a trivial query.")
    error: str | None = strawberry.field(description="The kind of failure, when not ok.")

    @classmethod
    def from_record(cls, record: db_stores.StoreHealth) -> StoreHealth:
        """The client's view of a check: never the full failure message (`detail`)."""
        return cls(
            name=record.name,
            backend=record.backend,
            ok=record.ok,
            latency_ms=record.latency_ms,
            error=record.error,
        )


@strawberry.type
class SystemHealth:
    status: HealthStatus  # type: ignore[valid-type]
    checked_at: datetime
    stores: list[StoreHealth]

    @classmethod
    def from_record(cls, record: system.HealthReport) -> SystemHealth:
        return cls(
            status=record.status,
            checked_at=record.checked_at,
            stores=[StoreHealth.from_record(store) for store in record.stores],
        )


@strawberry.type
class SystemStatus:
    version: str = strawberry.field(
        description="The server's version (system:read).", extensions=admin_only()
    )
    environment: str = strawberry.field(
        description="development or production (system:read).", extensions=admin_only()
    )
    started_at: datetime
    uptime_seconds: float = strawberry.field(description="Seconds since this process started.")
    python_version: str = strawberry.field(
        description="The Python that runs the server (system:read).", extensions=admin_only()
    )

    @classmethod
    def from_record(cls, record: system.ServerStatus) -> SystemStatus:
        return cls(
            version=record.version,
            environment=record.environment,
            started_at=record.started_at,
            uptime_seconds=record.uptime_seconds,
            python_version=record.python_version,
        )

    @strawberry.field(
        description="Each store's backend and health (checked only when asked; system:read).",
        extensions=admin_only(),
    )
    async def stores(self, info: Info) -> list[StoreHealth]:
        return [StoreHealth.from_record(store) for store in await system.store_health(info)]


@strawberry.type(description="The PostgreSQL pool's connections now (a fixed pool).")
class DatabasePool:
    size: int
    checked_out: int = strawberry.field(description="In use by a request now.")
    idle: int

    @classmethod
    def from_record(cls, record: PoolUsage) -> DatabasePool:
        return cls(size=record.size, checked_out=record.checked_out, idle=record.idle)


@strawberry.type(description="This process's metrics writer (outbox -> ClickHouse) since start.")
class AnalyticsWriterStats:
    pending_rows: int = strawberry.field(description="Staged, not yet inserted.")
    staged_rows: int
    inserted_rows: int
    duplicate_rows: int = strawberry.field(description="Replays ClickHouse already held.")
    batches: int
    insert_failures: int

    @classmethod
    def from_record(cls, record: WriterStats) -> AnalyticsWriterStats:
        return cls(
            pending_rows=record.pending_rows,
            staged_rows=record.staged_rows,
            inserted_rows=record.inserted_rows,
            duplicate_rows=record.duplicate_rows,
            batches=record.batches,
            insert_failures=record.insert_failures,
        )


@strawberry.type(description="This process now (the server answering), for administrators.")
class SystemMetrics:
    uptime_seconds: float
    cpu_percent: float = strawberry.field(
        description="% of one core over the last second (sampled at most once a second)."
    )
    memory_mb: float = strawberry.field(description="Resident memory.")
    database_pool: DatabasePool | None = strawberry.field(
        description="Null on SQLite, which has no pool."
    )
    analytics_writer: AnalyticsWriterStats | None = strawberry.field(
        description="Null in a process that runs no writer."
    )

    @classmethod
    def from_record(cls, record: system.ProcessReport) -> SystemMetrics:
        pool, writer = record.database_pool, record.analytics_writer
        return cls(
            uptime_seconds=record.uptime_seconds,
            cpu_percent=record.cpu_percent,
            memory_mb=record.memory_mb,
            database_pool=None if pool is None else DatabasePool.from_record(pool),
            analytics_writer=None if writer is None else AnalyticsWriterStats.from_record(writer),
        )

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

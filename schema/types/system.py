"""Types that describe the server itself: health of each store, version and uptime."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry


@strawberry.enum(description="Overall health: OK when every store answers, DEGRADED otherwise.")
class HealthStatus(Enum):
    OK = "ok"
    DEGRADED = "degraded"


@strawberry.type(description="One store's answer to a health check.")
class StoreHealth:
    name: str = strawberry.field(description="database, broker or analytics.")
    backend: str = strawberry.field(
        description="sqlite, postgresql, memory, redis, chdb, clickhouse."
    )
    ok: bool
    latency_ms: float | None = strawberry.field(description="Round trip of a trivial query.")
    error: str | None = strawberry.field(description="The kind of failure, when not ok.")


@strawberry.type
class SystemHealth:
    status: HealthStatus
    checked_at: datetime
    stores: list[StoreHealth]


@strawberry.type
class SystemStatus:
    version: str
    environment: str
    started_at: datetime
    uptime_seconds: float = strawberry.field(description="Seconds since this process started.")
    python_version: str

    @strawberry.field(description="Each store's backend and health (checked only when asked).")
    async def stores(self, info: strawberry.Info) -> list[StoreHealth]:
        from resolvers.system import store_health  # here: resolvers.system imports this module

        return await store_health(info)

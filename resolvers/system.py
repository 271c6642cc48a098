"""Use cases about the server itself: health and status."""

from __future__ import annotations

import platform

from db.types import utcnow
from resolvers.context import Info
from schema.types.system import HealthStatus, StoreHealth, SystemHealth, SystemStatus


async def store_health(info: Info) -> list[StoreHealth]:
    return [
        StoreHealth(name=h.name, backend=h.backend, ok=h.ok, latency_ms=h.latency_ms, error=h.error)
        for h in await info.context.stores.health()
    ]


async def system_health(info: Info) -> SystemHealth:
    stores = await store_health(info)
    status = HealthStatus.OK if all(store.ok for store in stores) else HealthStatus.DEGRADED
    return SystemHealth(status=status, checked_at=utcnow(), stores=stores)


async def system_status(info: Info) -> SystemStatus:
    app = info.context.app
    now = utcnow()
    return SystemStatus(
        version=app.version,
        environment=app.settings.environment.value,
        started_at=app.started_at,
        uptime_seconds=round((now - app.started_at).total_seconds(), 3),
        python_version=platform.python_version(),
    )

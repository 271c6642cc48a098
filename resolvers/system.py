"""Use cases about the server itself: health, status and this process's own numbers."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from db.analytics_writer import WriterStats
from db.session import PoolUsage
from db.stores import StoreHealth
from db.types import utcnow
from resolvers.context import Info
from resolvers.metrics import process_usage


class HealthStatus(Enum):
    """Overall health: OK when every store answers, DEGRADED otherwise."""

    OK = "ok"
    DEGRADED = "degraded"


@dataclass(frozen=True)
class HealthReport:
    """Every store's health at `checked_at`, and what they add up to."""

    status: HealthStatus
    checked_at: datetime
    stores: list[StoreHealth]


@dataclass(frozen=True)
class ServerStatus:
    """This process: its version, environment and uptime."""

    version: str
    environment: str
    started_at: datetime
    uptime_seconds: float
    python_version: str


async def store_health(info: Info) -> list[StoreHealth]:
    return await info.context.stores.health()


async def system_health(info: Info) -> HealthReport:
    stores = await store_health(info)
    status = HealthStatus.OK if all(store.ok for store in stores) else HealthStatus.DEGRADED
    return HealthReport(status=status, checked_at=utcnow(), stores=stores)


async def system_status(info: Info) -> ServerStatus:
    app = info.context.app
    now = utcnow()
    return ServerStatus(
        version=app.version,
        environment=app.settings.environment.value,
        started_at=app.started_at,
        uptime_seconds=round((now - app.started_at).total_seconds(), 3),
        python_version=platform.python_version(),
    )


@dataclass(frozen=True)
class ProcessReport:
    """This process now: CPU and memory, its database pool, its metrics writer."""

    uptime_seconds: float
    cpu_percent: float
    memory_mb: float
    database_pool: PoolUsage | None
    analytics_writer: WriterStats | None


async def system_metrics(info: Info) -> ProcessReport:
    """The numbers /metrics exports for Prometheus, for one process, as one answer."""
    app, stores = info.context.app, info.context.stores
    cpu_percent, memory_mb = process_usage()
    writer = stores.metrics_writer
    return ProcessReport(
        uptime_seconds=round((utcnow() - app.started_at).total_seconds(), 3),
        cpu_percent=cpu_percent,
        memory_mb=round(memory_mb, 1),
        database_pool=stores.database.pool_usage(),
        analytics_writer=None if writer is None else writer.stats(),
    )

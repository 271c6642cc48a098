"""Use cases about the server itself: health and status."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from db.stores import StoreHealth
from db.types import utcnow
from resolvers.context import Info


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

"""Root fields about the server itself."""

from __future__ import annotations

import strawberry

from resolvers import system
from resolvers.context import Info
from schema.types.system import SystemHealth, SystemStatus


@strawberry.type
class Query:
    @strawberry.field(description="Whether every store answers, with each store's latency.")
    async def system_health(self, info: Info) -> SystemHealth:
        return SystemHealth.from_record(await system.system_health(info))

    @strawberry.field(
        description="Uptime for anyone; version, environment and store backends for admins."
    )
    async def system_status(self, info: Info) -> SystemStatus:
        return SystemStatus.from_record(await system.system_status(info))

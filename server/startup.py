"""Checks run before the server starts: each store reachable, migrations applied.

Each failure becomes one line that names the setting to fix, instead of a traceback.
`prepare_database` checks the database alone, for commands that need no analytics: the
embedded chDB store can be opened by one process only, usually the running server.
"""

from __future__ import annotations

import asyncio

from core.settings import ConfigurationError, Settings
from db.analytics_migrations import migrate_analytics
from db.guard_model import MODEL_DIM
from db.migrate import upgrade_database
from db.session import Database
from db.stores import Stores

STARTUP_TIMEOUT_SECONDS = 10.0

_SETTING_OF_STORE = {
    "database": "DATABASE_URL",
    "broker": "REDIS_URL",
    "analytics": "CLICKHOUSE_URL",
    "vectors": "QDRANT_URL",
}


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse several workers when a store lives inside one process and cannot be shared."""
    if workers <= 1:
        return
    if not settings.redis_url:
        raise ConfigurationError(
            f"configuration error: --workers {workers} needs REDIS_URL: the in-process "
            "pub/sub, token and rate-limit stores cannot be shared between worker processes"
        )
    if settings.embedded_analytics:
        raise ConfigurationError(
            f"configuration error: --workers {workers} needs CLICKHOUSE_URL: the embedded "
            "chDB analytics store can be opened by one process only"
        )
    if not settings.qdrant_url:
        raise ConfigurationError(
            f"configuration error: --workers {workers} needs QDRANT_URL: qdrant-client's "
            "local mode (the embedded vector store) can be opened by one process only"
        )


def check_writers(settings: Settings) -> None:
    """Refuse BACKGROUND_WRITERS=false where no other process could write: the embedded
    stores open their files in one process only, this one."""
    if settings.background_writers:
        return
    if settings.embedded_analytics:
        raise ConfigurationError(
            "configuration error: BACKGROUND_WRITERS=false needs CLICKHOUSE_URL: no other "
            "process can open the embedded chDB store to drain this one's metrics rows"
        )
    if not settings.qdrant_url:
        raise ConfigurationError(
            "configuration error: BACKGROUND_WRITERS=false needs QDRANT_URL: no other "
            "process can open qdrant-client's local store to write this one's session vectors"
        )


async def prepare_database(settings: Settings) -> None:
    """Check the database answers and apply its migrations; never opens analytics."""
    database = Database(settings.resolved_database_url)
    try:
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
                await database.ping()
        except Exception as exc:
            raise ConfigurationError(
                f"configuration error: DATABASE_URL: the database store ({database.backend}) "
                f"does not answer: {str(exc) or repr(exc)}"
            ) from None
        await _upgrade(database)
    finally:
        await database.close()


async def _upgrade(database: Database) -> None:
    try:
        await upgrade_database(database.engine)
    except Exception as exc:
        raise ConfigurationError(
            f"configuration error: DATABASE_URL: migrations failed: {exc}"
        ) from None


async def prepare_stores(settings: Settings, *, migrate: bool = True) -> None:
    """Open every store, check it answers, apply migrations; ConfigurationError on failure."""
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            stores = await Stores.open(
                database_url=settings.resolved_database_url,
                redis_url=settings.redis_url,
                clickhouse_url=settings.resolved_clickhouse_url,
                redis_key_prefix=settings.redis_key_prefix,
                qdrant_url=settings.qdrant_url,
                qdrant_api_key=settings.qdrant_api_key,
                vectors_path=settings.vectors_path,
            )
    except Exception as exc:
        if "Qdrant" in str(exc):  # local mode's folder is locked by another process
            raise ConfigurationError(
                f"configuration error: QDRANT_URL: cannot open the vector store: {exc} "
                "(is the server running? stop it first)"
            ) from None
        hint = (
            " (the embedded store is open in another process: is the server running? stop it first)"
            if "Cannot lock file" in str(exc)
            else ""
        )
        raise ConfigurationError(
            f"configuration error: CLICKHOUSE_URL: cannot open the analytics store: {exc}{hint}"
        ) from None
    try:
        for health in await stores.health():
            if not health.ok:
                raise ConfigurationError(
                    f"configuration error: {_SETTING_OF_STORE[health.name]}: the {health.name} "
                    f"store ({health.backend}) does not answer: {health.detail}"
                )
        if migrate:
            await _upgrade(stores.database)
            try:
                await migrate_analytics(
                    stores.analytics, retention_days=settings.analytics_retention_days
                )
            except Exception as exc:
                raise ConfigurationError(
                    f"configuration error: CLICKHOUSE_URL: analytics migrations failed: {exc}"
                ) from None
            if stores.vectors is not None:
                try:
                    await stores.vectors.migrate(MODEL_DIM)
                except Exception as exc:
                    raise ConfigurationError(
                        f"configuration error: QDRANT_URL: the vector collection: {exc}"
                    ) from None
    finally:
        await stores.close()

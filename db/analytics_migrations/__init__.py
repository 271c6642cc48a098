"""Versioned ClickHouse schema: numbered SQL files here, applied once each, in order.

`NNNN_name.sql` holds one statement; `${retention_days}` in it is replaced by the
validated integer ANALYTICS_RETENTION_DAYS. Applied versions are rows of the
`schema_migrations` table in ClickHouse. The tables' TTLs follow the setting: when one
differs from the one its table was created with, `apply_retention` modifies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Protocol

MIGRATIONS_DIR = Path(__file__).parent
METRICS_TABLE = "consciousness_metrics"
AGENT_STATS_TABLE = "agent_daily_stats"
# The TTL of each table that keeps ANALYTICS_RETENTION_DAYS ({days}), as its migration
# writes it: a day of agent stats goes once the newest of its metrics rows has gone.
RETENTION_TTLS = {
    METRICS_TABLE: "toDateTime(timestamp) + toIntervalDay({days})",
    AGENT_STATS_TABLE: "day + toIntervalDay({days} + 1)",
}
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
"""


class CommandRunner(Protocol):
    async def command(self, sql: str, parameters: dict[str, object] | None = None) -> object: ...

    async def query_rows(
        self, sql: str, parameters: dict[str, object] | None = None
    ) -> list[tuple[object, ...]]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file of `directory`, by version; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"analytics migration {path.name} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two analytics migrations have version {version}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[version] for version in sorted(found)]


def _validated_days(retention_days: int) -> int:
    if not isinstance(retention_days, int) or retention_days < 1:
        raise ValueError("ANALYTICS_RETENTION_DAYS must be a positive integer")
    return retention_days


async def migrate_analytics(
    store: CommandRunner, *, retention_days: int, directory: Path = MIGRATIONS_DIR
) -> list[int]:
    """Apply the migrations not yet applied, then the retention TTL; the versions applied."""
    days = _validated_days(retention_days)
    await store.command(CREATE_SCHEMA_MIGRATIONS)
    applied = {
        int(str(row[0])) for row in await store.query_rows("SELECT version FROM schema_migrations")
    }
    done: list[int] = []
    for migration in load_migrations(directory):
        if migration.version in applied:
            continue
        await store.command(Template(migration.sql).substitute(retention_days=days))
        await store.command(
            "INSERT INTO schema_migrations (version, name) "
            "VALUES ({version:UInt32}, {name:String})",
            {"version": migration.version, "name": migration.name},
        )
        done.append(migration.version)
    await apply_retention(store, days)
    return done


async def retention_days_of_table(store: CommandRunner, table: str = METRICS_TABLE) -> int | None:
    """The TTL in days `table` has now, None without one."""
    rows = await store.query_rows(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = {table:String}",
        {"table": table},
    )
    ttl = re.escape(f"TTL {RETENTION_TTLS[table]}").replace(re.escape("{days}"), r"(\d+)")
    match = re.search(ttl, str(rows[0][0])) if rows else None
    return int(match.group(1)) if match else None


async def apply_retention(store: CommandRunner, retention_days: int) -> None:
    """Make each table's TTL `retention_days` days when it is anything else."""
    days = _validated_days(retention_days)
    for table, ttl in RETENTION_TTLS.items():
        if await retention_days_of_table(store, table) != days:
            # `days` is a validated int, and DDL cannot take query parameters in a TTL.
            await store.command(f"ALTER TABLE {table} MODIFY TTL {ttl.format(days=days)}")

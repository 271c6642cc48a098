"""The table and its migrations: schema, retention TTL, versions; deletion of an agent's rows."""

from __future__ import annotations

import uuid

from db.analytics import COLUMNS
from db.analytics_migrations import (
    METRICS_TABLE,
    apply_retention,
    load_migrations,
    migrate_analytics,
    retention_days_of_table,
)
from db.stores import Stores
from tests.agents.conftest import DELETE, MakeCaller
from tests.analytics.conftest import Metrics, make_row


async def test_the_table_has_the_documented_shape_and_retention(stores: Stores):
    ddl = str((await stores.analytics.query_rows(f"SHOW CREATE TABLE {METRICS_TABLE}"))[0][0])
    assert "PARTITION BY toYYYYMM(timestamp)" in ddl
    assert "ORDER BY (timestamp, user_id, request_id)" in ddl
    assert "TTL toDateTime(timestamp) + toIntervalDay(90)" in ddl
    assert "`violation_categories` Array(LowCardinality(String))" in ddl
    assert "`gpu_usage` Nullable(Float32)" in ddl
    assert "quantum" not in ddl


async def test_the_table_has_the_columns_of_the_metrics_row(stores: Stores) -> None:
    """The live table and core.records.MetricsRow (through db.analytics.COLUMNS) agree."""
    described = await stores.analytics.query_rows(f"DESCRIBE TABLE {METRICS_TABLE}")
    in_table = [(str(row[0]), str(row[1])) for row in described]
    from_record = [(column.name, column.clickhouse_type) for column in COLUMNS]
    assert in_table == from_record


async def test_migrations_are_recorded_and_applied_once(stores: Stores):
    versions = [
        row[0]
        for row in await stores.analytics.query_rows(
            "SELECT version FROM schema_migrations ORDER BY version"
        )
    ]
    assert versions == [m.version for m in load_migrations()]
    assert await migrate_analytics(stores.analytics, retention_days=90) == []


async def test_a_changed_retention_setting_changes_the_ttl(stores: Stores):
    try:
        await apply_retention(stores.analytics, 30)
        assert await retention_days_of_table(stores.analytics) == 30
    finally:
        await apply_retention(stores.analytics, 90)
    assert await retention_days_of_table(stores.analytics) == 90


async def test_deleting_an_agent_deletes_its_metrics(caller: MakeCaller, metrics: Metrics):
    alice = await caller("alice")
    agent = await alice.create("doomed")
    kept = uuid.uuid4()
    await metrics.insert([make_row(alice.user_id, uuid.UUID(agent["id"]), i) for i in range(4)])
    await metrics.insert([make_row(alice.user_id, kept, i) for i in range(3)])
    await alice.ok(DELETE, id=agent["id"], confirm=True)
    rows = await metrics.stores.analytics.query_rows(
        "SELECT agent_id, count() FROM consciousness_metrics WHERE user_id = {u:UUID} "
        "GROUP BY agent_id",
        {"u": alice.user_id},
    )
    assert rows == [(kept, 3)]


async def test_delete_user_metrics_removes_every_row_of_the_user(stores: Stores, metrics: Metrics):
    from resolvers.analytics import delete_user_metrics

    gone, stays = uuid.uuid4(), uuid.uuid4()
    await metrics.insert([make_row(gone, uuid.uuid4(), i) for i in range(3)])
    await metrics.insert([make_row(stays, uuid.uuid4(), i) for i in range(2)])
    await delete_user_metrics(stores, gone)
    assert await metrics.request_ids(gone) == []
    assert len(await metrics.request_ids(stays)) == 2


def test_a_row_staged_before_the_genai_columns_gets_their_defaults() -> None:
    """Outbox rows written by the previous version lack the new keys; they still insert."""
    from db.analytics import METRICS_COLUMNS, row_values

    old = make_row(uuid.uuid4(), uuid.uuid4(), 1)
    values = dict(zip(METRICS_COLUMNS, row_values(old), strict=True))
    assert values["source"] == "graphql"
    assert (values["model"], values["input_tokens"], values["trace_id"]) == ("", 0, "")

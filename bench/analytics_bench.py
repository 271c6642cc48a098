"""Benchmark: analytics ingestion through the writer, and a percentile-by-agent query.

Both against embedded chDB in a temporary directory, each with a baseline in the same run:

- ingestion: N rows staged in a SQLite metrics outbox (transactions of 10,000 rows) and
  drained by the AnalyticsWriter (batches of 10,000) until `close()`, vs the same rows
  inserted with clickhouse-connect's `insert` directly in batches of the same size. Target
  ≥ 20,000 rows/s.
- query: exact p95 of processing time per agent over 1,000,000 rows (made by ClickHouse
  from `numbers()`), through AnalyticsStore (thread + lock) with the resolver's SQL, vs the
  same SQL on the client directly. Median of the runs; target < 200 ms.

Run: `.venv/bin/python bench/analytics_bench.py [--rows N] [--runs R] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import Figure, add_json_option, write_figures

from db import metrics_outbox
from db.analytics import METRICS_COLUMNS, AnalyticsStore, ColumnRow, row_values
from db.analytics_migrations import migrate_analytics
from db.analytics_queries import (
    AggregateFunction,
    Aggregation,
    Dimension,
    MetricField,
    MetricsFilter,
    MetricsQuery,
    build_aggregate,
)
from db.analytics_writer import AnalyticsWriter
from db.migrate import upgrade_database
from db.models import Agent, User
from db.session import Database

BATCH = 10_000
QUERY_ROWS = 1_000_000
AGENTS = 100
INGEST_TARGET_ROWS_PER_SECOND = 20_000
QUERY_TARGET_MS = 200.0


def make_rows(count: int) -> list[ColumnRow]:
    start = datetime.now(UTC) - timedelta(hours=1)
    users = [uuid.uuid4() for _ in range(10)]
    agents = [uuid.uuid4() for _ in range(AGENTS)]  # agent i belongs to user i % 10
    return [
        {
            "timestamp": start + timedelta(milliseconds=i),
            "request_id": uuid.uuid4(),
            "user_id": users[i % 10],
            "agent_id": agents[i % AGENTS],
            "processing_time_ms": 5.0 + i % 97,
            "awareness_level": (i % 11) / 10,
            "ethical_score": (i % 7) / 6,
            "confidence": 0.5,
            "cognitive_load": 0.25,
            "valence": 0.0,
            "arousal": 0.5,
            "blocked": i % 13 == 0,
            "error": False,
            "violation_categories": ["S1"] if i % 5 == 0 else [],
            "input_chars": 100,
            "cpu_percent": 3.0,
            "memory_mb": 120.0,
            "gpu_usage": None,
        }
        for i in range(count)
    ]


async def add_owners(database: Database, rows: list[ColumnRow]) -> None:
    """The users and agents the rows name: the outbox's foreign keys need them."""
    async with database.session() as session:
        for user_id in {row["user_id"] for row in rows}:
            session.add(
                User(
                    id=user_id,
                    username=user_id.hex,
                    email=f"{user_id.hex}@b.example",
                    password_hash="x",
                )
            )
        await session.flush()
        for agent_id, user_id in {(row["agent_id"], row["user_id"]) for row in rows}:
            session.add(
                Agent(id=agent_id, owner_id=user_id, name=agent_id.hex, agent_type="ANALYTICAL")
            )


async def ingest_writer(store: AnalyticsStore, rows: list[ColumnRow], directory: Path) -> float:
    database = Database(f"sqlite+aiosqlite:///{directory / 'outbox.db'}")
    await upgrade_database(database.engine)
    await add_owners(database, rows)
    writer = AnalyticsWriter(store, database, batch_size=BATCH)
    writer.start()
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        async with database.write_session() as session:  # as an ingestion claim stages
            await metrics_outbox.stage(session, *rows[start : start + BATCH])
        writer.notify(BATCH)
    await writer.close()
    elapsed = time.perf_counter() - started
    await database.close()
    assert writer.stats().inserted_rows == len(rows), writer.stats()
    return len(rows) / elapsed


def ingest_direct(store: AnalyticsStore, rows: list[ColumnRow]) -> float:
    client = store._client
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        data = [row_values(row) for row in rows[start : start + BATCH]]
        client.insert("consciousness_metrics", data, column_names=list(METRICS_COLUMNS))
    return len(rows) / (time.perf_counter() - started)


async def fill_for_query(store: AnalyticsStore) -> None:
    await store.command("TRUNCATE TABLE consciousness_metrics")
    await store.command(
        f"""INSERT INTO consciousness_metrics
        SELECT now64(3) - toIntervalMillisecond(number), generateUUIDv4(),
               toUUID(concat('00000000-0000-0000-0000-', leftPad(toString(number % 10), 12, '0'))),
               toUUID(concat('00000000-0000-0000-0001-',
                             leftPad(toString(number % {AGENTS}), 12, '0'))),
               5 + (number * 7919 % 1000) / 10, (number % 11) / 10, (number % 7) / 6, 0.5, 0.25,
               0, 0.5, number % 13 = 0, false, if(number % 5 = 0, ['S1'], []), 100, 3, 120, NULL,
               'graphql', '', '', 0, 0, '', ''
        FROM numbers({QUERY_ROWS})"""
    )


def p95_query() -> MetricsQuery:
    now = datetime.now(UTC)
    where = MetricsFilter(start=now - timedelta(days=1), end=now + timedelta(minutes=1))
    aggregation = Aggregation(AggregateFunction.PERCENTILE, MetricField.PROCESSING_TIME_MS, 0.95)
    return MetricsQuery(where, (aggregation,), (Dimension.AGENT,), limit=1000)


async def time_query(store: AnalyticsStore, runs: int) -> tuple[float, float, int]:
    built = build_aggregate(p95_query())
    through_store, direct = [], []
    groups = 0
    for _ in range(runs):
        started = time.perf_counter()
        groups = len(await store.query_rows(built.sql, built.parameters))
        through_store.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store._client.query(built.sql, parameters=built.parameters)
        direct.append((time.perf_counter() - started) * 1000)
    return statistics.median(through_store), statistics.median(direct), groups


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="rows to ingest")
    parser.add_argument("--runs", type=int, default=15, help="query repetitions")
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="analytics-bench-") as tmp:
        directory = Path(tmp)
        store = await AnalyticsStore.open(f"chdb://{directory / 'chdb'}")
        try:
            await migrate_analytics(store, retention_days=90)
            rows = make_rows(args.rows)
            direct_rate = ingest_direct(store, rows)
            await store.command("TRUNCATE TABLE consciousness_metrics")
            writer_rate = await ingest_writer(store, make_rows(args.rows), directory)
            await fill_for_query(store)
            store_ms, direct_ms, groups = await time_query(store, args.runs)
        finally:
            await store.close()
    print("| scenario | app path | direct chDB | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| ingest {args.rows:,} rows (rows/s) | {writer_rate:,.0f} | {direct_rate:,.0f} "
        f"| {writer_rate / direct_rate:.2f} | ≥ {INGEST_TARGET_ROWS_PER_SECOND:,} |"
    )
    print(
        f"| p95 by agent, {QUERY_ROWS:,} rows, {groups} groups (median ms of {args.runs}) "
        f"| {store_ms:.1f} | {direct_ms:.1f} | {store_ms / direct_ms:.2f} | < {QUERY_TARGET_MS:g} |"
    )
    scenario = "5. analytics"
    write_figures(args.json, [
        Figure("analytics.ingest_rows_per_s", scenario,
               f"ingestion through the AnalyticsWriter, {args.rows:,} rows", writer_rate,
               "rows/s", "clickhouse-connect insert, same batches", direct_rate,
               "≥", INGEST_TARGET_ROWS_PER_SECOND, note="embedded chDB"),
        Figure("analytics.p95_query_ms", scenario,
               f"p95 by agent over {QUERY_ROWS:,} rows, {groups} groups, median of {args.runs}",
               store_ms, "ms", "same SQL on the client directly", direct_ms,
               "<", QUERY_TARGET_MS, note="embedded chDB"),
    ])  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

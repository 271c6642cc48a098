"""The outbox writer: batching, retries while ClickHouse is down, exactly once after a crash.

Each test drains an outbox of its own database (`own_database`), so the app's writer, which
drains the shared one, never takes its rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import func
from sqlmodel import select

from core.settings import Settings
from db import metrics_outbox
from db.analytics import AnalyticsStore, ColumnRow
from db.analytics_writer import AnalyticsWriter
from db.models import Agent, MetricsOutbox, User
from db.session import Database
from db.stores import Stores
from tests.analytics.conftest import Metrics, make_row
from tests.support import wait_until


class FlakySink:
    """The real store behind a switch: while `down`, inserts raise as if unreachable.

    `lose_response` inserts the batch, then raises: the insert arrived, its answer did not.
    """

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self.down = False
        self.lose_response = False

    async def insert_metrics(self, rows: Sequence[ColumnRow], dedup_token: str) -> None:
        if self.down:
            raise ConnectionError("ClickHouse is unreachable")
        await self.store.insert_metrics(rows, dedup_token)
        if self.lose_response:
            raise TimeoutError("the insert's response was lost")

    async def stored_request_ids(self, rows: Sequence[ColumnRow]) -> set[uuid.UUID]:
        if self.down:
            raise ConnectionError("ClickHouse is unreachable")
        return await self.store.stored_request_ids(rows)


async def staged_rows(database: Database, metrics: Metrics, count: int) -> list[ColumnRow]:
    """`count` rows of a new user and agent, committed to the outbox."""
    user_id, agent_id = uuid.uuid4(), uuid.uuid4()
    metrics.track(user_id)
    async with database.session() as session:
        session.add(
            User(id=user_id, username=user_id.hex, email="x@example.org", password_hash="x")
        )
        await session.flush()
        session.add(Agent(id=agent_id, owner_id=user_id, name="a", agent_type="ANALYTICAL"))
        await session.flush()
        rows = [make_row(user_id, agent_id, index) for index in range(count)]
        for row in rows:
            await metrics_outbox.stage(session, row)
    return rows


async def outbox_size(database: Database) -> int:
    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(MetricsOutbox))).one()


async def assert_exactly_once(metrics: Metrics, rows: list[ColumnRow]) -> None:
    stored = await metrics.request_ids(rows[0]["user_id"])
    assert sorted(stored) == sorted(str(row["request_id"]) for row in rows)


async def test_rows_are_inserted_in_batches_of_at_most_batch_size(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    rows = await staged_rows(own_database, metrics, 35)
    writer = AnalyticsWriter(stores.analytics, own_database, batch_size=10)
    assert await writer.flush()
    await assert_exactly_once(metrics, rows)
    stats = writer.stats()
    assert (stats.batches, stats.max_batch_size, stats.inserted_rows) == (4, 10, 35)
    assert await outbox_size(own_database) == 0


async def test_a_notified_row_is_inserted_after_the_flush_interval(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    writer = AnalyticsWriter(
        stores.analytics, own_database, flush_interval_seconds=0.05, retry_interval_seconds=60
    )
    writer.start()
    try:
        rows = await staged_rows(own_database, metrics, 3)
        writer.notify(3)
        assert writer.stats().pending_rows == 3
        await wait_until(lambda: writer.stats().pending_rows == 0, "the interval drains")
        await assert_exactly_once(metrics, rows)
        assert writer.stats().inserted_rows == 3
    finally:
        await writer.close()


async def test_rows_wait_in_the_outbox_while_clickhouse_is_down_then_land_once(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    sink = FlakySink(stores.analytics)
    sink.down = True
    writer = AnalyticsWriter(
        sink, own_database, batch_size=20, flush_interval_seconds=0.02, retry_interval_seconds=0.05
    )
    rows = await staged_rows(own_database, metrics, 50)
    writer.start()
    try:
        writer.notify(50)
        await wait_until(lambda: writer.stats().insert_failures >= 2, "two drains fail")
        assert await outbox_size(own_database) == 50
        assert await metrics.request_ids(rows[0]["user_id"]) == []
        sink.down = False
        await wait_until(  # by the timed retry, not close()'s drain
            lambda: writer.stats().inserted_rows == 50, "the retry inserts all 50 rows"
        )
    finally:
        await writer.close()
    await assert_exactly_once(metrics, rows)
    assert await outbox_size(own_database) == 0


async def test_a_batch_whose_answer_was_lost_is_not_stored_twice(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    rows = await staged_rows(own_database, metrics, 12)
    sink = FlakySink(stores.analytics)
    sink.lose_response = True
    writer = AnalyticsWriter(sink, own_database)
    assert not await writer.flush()  # inserted, but the writer believes it failed
    assert await outbox_size(own_database) == 12
    sink.lose_response = False
    assert await writer.flush()
    assert writer.stats().duplicate_rows == 12
    await assert_exactly_once(metrics, rows)


async def test_rows_inserted_by_a_killed_process_are_not_inserted_again(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    """A process killed between its insert and the outbox delete left half a batch behind."""
    rows = await staged_rows(own_database, metrics, 20)
    await stores.analytics.insert_metrics(rows[:8], uuid.uuid4().hex)
    writer = AnalyticsWriter(stores.analytics, own_database)
    assert await writer.flush()
    stats = writer.stats()
    assert (stats.inserted_rows, stats.duplicate_rows) == (12, 8)
    await assert_exactly_once(metrics, rows)


async def test_close_drains_rows_still_waiting_for_their_interval(
    stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    writer = AnalyticsWriter(stores.analytics, own_database, flush_interval_seconds=60)
    writer.start()
    rows = await staged_rows(own_database, metrics, 7)
    writer.notify(7)
    await asyncio.sleep(0.05)
    assert await metrics.request_ids(rows[0]["user_id"]) == []  # still gathering its batch
    await asyncio.wait_for(writer.close(), 10)
    await assert_exactly_once(metrics, rows)


@pytest.mark.parametrize("settings", ["servers"], indirect=True)  # SQLite: one process
async def test_writers_of_several_processes_take_disjoint_batches(
    settings: Settings, stores: Stores, metrics: Metrics, own_database: Database
) -> None:
    rows = await staged_rows(own_database, metrics, 300)
    writers = [AnalyticsWriter(stores.analytics, own_database, batch_size=25) for _ in range(3)]
    assert all(await asyncio.gather(*(writer.flush() for writer in writers)))
    assert sum(writer.stats().inserted_rows for writer in writers) == 300
    assert sum(writer.stats().duplicate_rows for writer in writers) == 0
    await assert_exactly_once(metrics, rows)


async def test_deleting_a_user_deletes_their_staged_rows(
    metrics: Metrics, own_database: Database
) -> None:
    rows = await staged_rows(own_database, metrics, 4)
    async with own_database.session() as session:
        user = await session.get(User, rows[0]["user_id"])
        await session.delete(user)
    assert await outbox_size(own_database) == 0

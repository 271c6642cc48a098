"""The batched writer: batching, overflow to the spool, spool and replay, shutdown flush."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from db.analytics import AnalyticsStore, ColumnRow
from db.analytics_writer import AnalyticsWriter
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
        self.calls = 0

    async def insert_metrics(self, rows: list[ColumnRow], dedup_token: str) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("ClickHouse is unreachable")
        await self.store.insert_metrics(rows, dedup_token)
        if self.lose_response:
            raise TimeoutError("the insert's response was lost")


def rows_for(count: int) -> tuple[uuid.UUID, list[ColumnRow]]:
    user_id = uuid.uuid4()
    agent_id = uuid.uuid4()
    return user_id, [make_row(user_id, agent_id, index) for index in range(count)]


async def assert_exactly_once(metrics: Metrics, user_id: uuid.UUID, rows: list[ColumnRow]):
    stored = await metrics.request_ids(user_id)
    assert sorted(stored) == sorted(str(row["request_id"]) for row in rows)


async def test_rows_are_inserted_in_batches_of_at_most_batch_size(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(35)
    metrics.track(user_id)
    writer = AnalyticsWriter(
        stores.analytics, tmp_path / "spool.jsonl", batch_size=10, flush_interval_seconds=0.05
    )
    for row in rows:  # queued before the task starts: it finds full batches waiting
        await writer.enqueue(row)
    writer.start()
    await writer.close()
    await assert_exactly_once(metrics, user_id, rows)
    stats = writer.stats()
    assert stats.batches == 4
    assert stats.max_batch_size == 10
    assert stats.inserted_rows == 35
    assert stats.queue_depth == 0
    assert stats.spooled_rows == 0


async def test_a_short_interval_flushes_a_partial_batch(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(3)
    metrics.track(user_id)
    writer = AnalyticsWriter(
        stores.analytics, tmp_path / "spool.jsonl", flush_interval_seconds=0.05
    )
    writer.start()
    try:
        for row in rows:
            await writer.enqueue(row)
        await wait_until(lambda: writer.stats().inserted_rows == 3, "the interval flushes")
        await assert_exactly_once(metrics, user_id, rows)
    finally:
        await writer.close()


async def test_unreachable_store_spools_rows_and_replays_each_exactly_once(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(50)
    metrics.track(user_id)
    sink = FlakySink(stores.analytics)
    sink.down = True
    writer = AnalyticsWriter(
        sink,
        tmp_path / "spool.jsonl",
        batch_size=20,
        flush_interval_seconds=0.02,
        retry_interval_seconds=0.05,
    )
    writer.start()
    try:
        for row in rows[:30]:
            await writer.enqueue(row)
        await wait_until(lambda: writer.stats().spooled_rows == 30, "30 rows are spooled")
        stats = writer.stats()
        assert stats.insert_failures >= 1
        assert stats.spool_pending
        assert await metrics.request_ids(user_id) == []
        for row in rows[30:]:  # still down: these go to the spool too
            await writer.enqueue(row)
        sink.down = False
        await wait_until(  # by the timed retry, not close()'s flush
            lambda: writer.stats().replayed_rows == 50, "the retry replays all 50 rows"
        )
    finally:
        await writer.close()
    await assert_exactly_once(metrics, user_id, rows)
    assert not writer.stats().spool_pending
    assert not (tmp_path / "spool.jsonl").exists()


async def test_a_batch_whose_answer_was_lost_is_not_stored_twice_on_replay(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(12)
    metrics.track(user_id)
    sink = FlakySink(stores.analytics)
    sink.lose_response = True
    writer = AnalyticsWriter(sink, tmp_path / "spool.jsonl", retry_interval_seconds=60)
    for row in rows:
        await writer.enqueue(row)
    await writer.flush()  # inserted, but the writer believes it failed: spooled with its token
    assert writer.stats().spooled_rows == 12
    sink.lose_response = False
    assert await writer.replay_spool()  # the same token again: ClickHouse drops the block
    await assert_exactly_once(metrics, user_id, rows)


async def test_a_full_queue_sends_rows_to_the_spool_without_blocking(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(20)
    metrics.track(user_id)
    writer = AnalyticsWriter(stores.analytics, tmp_path / "spool.jsonl", queue_size=5)
    for row in rows:  # the task is not running: nothing drains the queue
        await asyncio.wait_for(writer.enqueue(row), 1.0)
    stats = writer.stats()
    assert (stats.queue_depth, stats.spooled_rows) == (5, 15)
    writer.start()
    await writer.close()
    await assert_exactly_once(metrics, user_id, rows)


async def test_an_interrupted_replay_repeats_the_same_chunks_without_duplicates(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(25)
    metrics.track(user_id)
    sink = FlakySink(stores.analytics)
    writer = AnalyticsWriter(sink, tmp_path / "spool.jsonl", batch_size=10, queue_size=1)
    for row in rows:  # 1 queued, 24 spooled without tokens
        await writer.enqueue(row)
    original = sink.insert_metrics

    async def fail_after_first_chunk(batch: list[ColumnRow], token: str) -> None:
        if sink.calls >= 1:
            sink.calls += 1
            raise ConnectionError("gone again")
        await original(batch, token)

    sink.insert_metrics = fail_after_first_chunk  # type: ignore[method-assign]
    assert not await writer.replay_spool()
    assert len(await metrics.request_ids(user_id)) == 10
    sink.insert_metrics = original  # type: ignore[method-assign]
    assert await writer.replay_spool()
    await writer.flush()
    await assert_exactly_once(metrics, user_id, rows)


async def test_shutdown_flushes_rows_still_waiting_for_their_interval(
    stores: Stores, metrics: Metrics, tmp_path: Path
) -> None:
    user_id, rows = rows_for(7)
    metrics.track(user_id)
    writer = AnalyticsWriter(
        stores.analytics, tmp_path / "spool.jsonl", flush_interval_seconds=60, batch_size=1000
    )
    writer.start()
    for row in rows:
        await writer.enqueue(row)
    await wait_until(lambda: writer.stats().queue_depth == 0, "the writer takes the rows")
    assert await metrics.request_ids(user_id) == []  # still collecting its batch
    await asyncio.wait_for(writer.close(), 10)
    await assert_exactly_once(metrics, user_id, rows)


@pytest.mark.parametrize("bad", ["{torn", ""])
async def test_an_unreadable_spool_line_does_not_stop_the_replay(
    stores: Stores, metrics: Metrics, tmp_path: Path, bad: str
) -> None:
    user_id, rows = rows_for(3)
    metrics.track(user_id)
    writer = AnalyticsWriter(stores.analytics, tmp_path / "spool.jsonl", queue_size=1)
    for row in rows:
        await writer.enqueue(row)
    with (tmp_path / "spool.jsonl").open("a") as spool:
        spool.write(bad + "\n")
    assert await writer.replay_spool()
    await writer.flush()
    await assert_exactly_once(metrics, user_id, rows)

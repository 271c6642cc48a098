"""The metrics writer: drains the metrics outbox (db/metrics_outbox.py) into ClickHouse.

Why an outbox in the primary database rather than a spool file beside the process:
- `process` stages its metrics row in the transaction that stores its session, so an
  acknowledged request's row is exactly as durable as its session: the same commit, no
  second fsync on the request path, and no crash can keep one without the other. The
  request pays one small INSERT inside a transaction it opens anyway.
- Several server processes share it through the database (batches claimed with SKIP
  LOCKED): no per-process spool files to find and hand over after a crash.
- Deleting a user or an agent deletes its staged rows in the same transaction (foreign keys).

Exactly once: a batch leaves the outbox only after ClickHouse has taken it. A crash in
between leaves rows ClickHouse may already hold, so each batch first asks ClickHouse which
of its request ids it has (one query over the batch's time range of the primary key) and
inserts only the others; the insert also carries a token derived from its request ids.
While ClickHouse is unreachable the rows wait in the outbox and are retried every
`retry_interval_seconds`.

The drain task wakes when this process stages rows (`notify`), then waits up to
`flush_interval_seconds` to gather a batch; it also wakes every `retry_interval_seconds`,
which picks up the rows of a process that died, or of processes that do not drain
(BACKGROUND_WRITERS=false: they only stage, and the writing processes take their rows within
that interval). `flush` drains now, in any process; `close` drains once more and stops (a
writer that was never started drains nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from db.analytics import ColumnRow
from db.drain_loop import DrainLoop
from db.metrics_outbox import claimed_batch, count_staged
from db.session import Database

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_FLUSH_INTERVAL_SECONDS = 0.5
DEFAULT_RETRY_INTERVAL_SECONDS = 2.0


class MetricsSink(Protocol):
    async def insert_metrics(self, rows: Sequence[ColumnRow], dedup_token: str) -> None: ...

    async def stored_request_ids(self, rows: Sequence[ColumnRow]) -> set[uuid.UUID]: ...


@dataclass
class WriterStats:
    """Counters since start; `pending_rows` is a current value."""

    # Staged by this process since a drain last emptied the outbox; after a failed drain, at
    # least the rows the outbox holds (staged by any process). 0 where this process does not
    # drain (BACKGROUND_WRITERS=false): the processes that drain report the backlog.
    pending_rows: int = 0
    staged_rows: int = 0
    inserted_rows: int = 0
    duplicate_rows: int = 0  # claimed rows ClickHouse already held: replays after a crash
    batches: int = 0
    last_batch_size: int = 0
    max_batch_size: int = 0
    insert_failures: int = 0


class AnalyticsWriter(DrainLoop):
    """Outbox → batches → ClickHouse, a batch deleted from the outbox once it is in."""

    def __init__(
        self,
        sink: MetricsSink,
        database: Database,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL_SECONDS,
    ) -> None:
        super().__init__("analytics-writer", retry_interval_seconds, flush_interval_seconds)
        self._sink = sink
        self._database = database
        self._batch_size = batch_size
        self._stats = WriterStats()
        self._drain_lock = asyncio.Lock()  # one drain at a time in this process

    def notify(self, rows: int = 1) -> None:
        """Say `rows` were staged (committed): the drain task, where this process runs one,
        gathers and inserts them soon."""
        self._stats.staged_rows += rows
        if self.running:
            self._stats.pending_rows += rows
            self.wake()

    @property
    def inserted_rows(self) -> int:
        """Rows inserted since start, read per stats lookup (db/agent_stats_cache.py)."""
        return self._stats.inserted_rows

    def stats(self) -> WriterStats:
        """A snapshot of the counters (for /metrics and tests)."""
        return WriterStats(**vars(self._stats))

    async def flush(self) -> bool:
        """Insert every staged row now; True when the outbox is empty afterwards.

        Account and agent deletion call it so no row staged before them arrives after.
        """
        return await self.drain()

    async def drain(self) -> bool:
        """Insert staged rows batch by batch until none is left; False (logged) on a failure."""
        async with self._drain_lock:
            try:
                while await self._drain_batch() == self._batch_size:
                    pass
            except Exception as exc:  # the rows stay staged; the next drain retries them
                self._stats.insert_failures += 1
                log.warning("analytics writer could not drain the outbox, will retry: %s", exc)
                await self._count_backlog()
                return False
            self._stats.pending_rows = 0
            return True

    async def _count_backlog(self) -> None:
        """After a failed drain: the outbox's rows, which other processes may have staged
        (unknown, and left as it was, when the database does not answer either)."""
        with contextlib.suppress(Exception):
            staged = await count_staged(self._database)
            self._stats.pending_rows = max(self._stats.pending_rows, staged)

    async def _drain_batch(self) -> int:
        """Claim a batch, insert the rows ClickHouse lacks, delete the batch; its size."""
        async with claimed_batch(self._database, self._batch_size) as batch:
            rows = [entry.row for entry in batch]
            stored = await self._sink.stored_request_ids(rows)
            fresh = (
                [row for row in rows if uuid.UUID(str(row["request_id"])) not in stored]
                if stored  # a replayed batch; else (nearly always) no id need be parsed
                else rows
            )
            if fresh:
                await self._sink.insert_metrics(fresh, _content_token(fresh))
                self._count_batch(len(fresh))
            self._stats.duplicate_rows += len(rows) - len(fresh)
        return len(batch)

    def _count_batch(self, size: int) -> None:
        self._stats.batches += 1
        self._stats.inserted_rows += size
        self._stats.last_batch_size = size
        self._stats.max_batch_size = max(self._stats.max_batch_size, size)


def _content_token(rows: list[ColumnRow]) -> str:
    """A token that depends only on the rows' request ids: the same batch, the same token."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(str(row["request_id"]).encode())
    return "outbox-" + digest.hexdigest()

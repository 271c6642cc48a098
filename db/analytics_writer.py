"""The batched metrics writer: a bounded queue in front of ClickHouse, with a disk spool.

Guarantees:
- `enqueue` never blocks a request on ClickHouse and never drops a row: it puts the row on
  a bounded asyncio queue, or, when the queue is full, appends it to the spool file.
- One task drains the queue into batches of up to `batch_size` rows, or whatever arrived
  within `flush_interval_seconds`, and inserts each batch in a worker thread.
- A batch whose insert fails goes to the spool (JSON lines under DATA_DIR) with its
  deduplication token; while the spool holds rows, new batches go there too, and every
  `retry_interval_seconds` the spool is replayed. Replay first renames the spool (so new
  rows append to a fresh file), inserts the renamed file's batches, then deletes it.
- No row is stored twice: every insert carries `insert_deduplication_token`. A failed
  batch keeps its token in the spool, so if it had in fact arrived, its replay is
  dropped by ClickHouse. Rows spooled without a token (queue overflow, batches spooled
  while degraded) are grouped on replay into chunks of the renamed, no longer growing
  file, each chunk's token derived from its request ids: a replay interrupted after some
  chunks repeats the same chunks with the same tokens.
- `close()` flushes the queue (insert, else spool) and tries one last replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from db.analytics import ColumnRow

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_FLUSH_INTERVAL_SECONDS = 0.5
DEFAULT_RETRY_INTERVAL_SECONDS = 2.0


class MetricsSink(Protocol):
    async def insert_metrics(self, rows: list[ColumnRow], dedup_token: str) -> None: ...


@dataclass
class WriterStats:
    """Counters since start; `queue_depth` and `spool_pending` are current values."""

    queue_depth: int = 0
    enqueued_rows: int = 0
    inserted_rows: int = 0
    batches: int = 0
    last_batch_size: int = 0
    max_batch_size: int = 0
    insert_failures: int = 0
    spooled_rows: int = 0
    replayed_rows: int = 0
    spool_pending: bool = False


class AnalyticsWriter:
    """Queue → batches → ClickHouse, spooling to `spool_path` whenever that fails."""

    def __init__(
        self,
        sink: MetricsSink,
        spool_path: Path,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL_SECONDS,
    ) -> None:
        self._sink = sink
        self.spool_path = spool_path
        self._replay_path = spool_path.with_name(spool_path.name + ".replaying")
        self._batch_size = batch_size
        self._flush_interval = flush_interval_seconds
        self._retry_interval = retry_interval_seconds
        self._queue: asyncio.Queue[ColumnRow] = asyncio.Queue(maxsize=queue_size)
        self._spool_lock = asyncio.Lock()  # appends and the rename at replay
        self._stats = WriterStats()
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._next_replay = 0.0
        # Clear while the drain task holds rows it took from the queue and has not written
        # yet: `flush` waits for it, so rows enqueued before a flush are written when it ends.
        self._idle = asyncio.Event()
        self._idle.set()

    # --- the producer side --------------------------------------------------------------

    async def enqueue(self, row: ColumnRow) -> None:
        """Queue a row; when the queue is full it goes to the spool instead. Never raises."""
        self._stats.enqueued_rows += 1
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            await self._spool([row], token=None)

    def stats(self) -> WriterStats:
        """A snapshot of the counters (for /metrics later, and for tests)."""
        self._stats.queue_depth = self._queue.qsize()
        self._stats.spool_pending = self._spool_has_rows()
        return WriterStats(**vars(self._stats))

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._next_replay = 0.0  # rows spooled by an earlier run are replayed at once
        self._task = asyncio.create_task(self._run(), name="analytics-writer")

    async def close(self) -> None:
        """Stop the drain task after it has flushed the queue and tried the spool once."""
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def flush(self) -> None:
        """Insert (or spool) everything queued now, then replay the spool if it has rows.

        Rows the drain task already took are waited for, so every row enqueued before the
        call is inserted (or spooled) when it returns: account and agent deletion rely on it.
        """
        while not self._queue.empty():
            await self._write(self._take_batch())
        await self._idle.wait()
        if self._spool_has_rows():
            await self.replay_spool()

    # --- the drain task -----------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing.is_set():
            try:
                try:
                    batch = await self._collect_batch()
                    if batch:
                        await self._write(batch)
                finally:
                    self._idle.set()
                if self._spool_has_rows() and time.monotonic() >= self._next_replay:
                    await self.replay_spool()
            except Exception:  # the writer must outlive any one failure
                log.exception("analytics writer iteration failed")
        try:
            await self.flush()
        except Exception:
            log.exception("analytics writer could not flush at shutdown")

    async def _next_row(self, wait_seconds: float) -> ColumnRow | None:
        """The next queued row, or None after `wait_seconds` or once closing starts."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        getter = asyncio.ensure_future(self._queue.get())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait(
                {getter, closing}, timeout=wait_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closing.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        # A get that completed while being cancelled has taken a row: keep it.
        return getter.result() if getter.done() and not getter.cancelled() else None

    async def _collect_batch(self) -> list[ColumnRow]:
        """Up to batch_size rows: wait for the first, then at most one flush interval more."""
        first = await self._next_row(self._retry_interval)
        if first is None:
            return []
        self._idle.clear()  # set again by _run once this batch is written
        batch = [first]
        deadline = time.monotonic() + self._flush_interval
        while len(batch) < self._batch_size and not self._closing.is_set():
            batch.extend(self._take_batch(self._batch_size - len(batch)))
            remaining = deadline - time.monotonic()
            if len(batch) >= self._batch_size or remaining <= 0:
                break
            row = await self._next_row(remaining)
            if row is None:
                break
            batch.append(row)
        return batch

    def _take_batch(self, limit: int | None = None) -> list[ColumnRow]:
        rows: list[ColumnRow] = []
        while len(rows) < (limit or self._batch_size) and not self._queue.empty():
            rows.append(self._queue.get_nowait())
        return rows

    async def _write(self, batch: list[ColumnRow]) -> None:
        """Insert the batch, or spool it: right away while the spool still holds rows."""
        if not batch:
            return
        if self._spool_has_rows():
            await self._spool(batch, token=None)
            return
        token = uuid.uuid4().hex
        try:
            await self._sink.insert_metrics(batch, token)
        except Exception as exc:
            self._stats.insert_failures += 1
            log.warning("analytics insert of %d rows failed, spooling: %s", len(batch), exc)
            await self._spool(batch, token=token)
            self._next_replay = time.monotonic() + self._retry_interval
            return
        self._count_batch(len(batch))

    def _count_batch(self, size: int) -> None:
        self._stats.batches += 1
        self._stats.inserted_rows += size
        self._stats.last_batch_size = size
        self._stats.max_batch_size = max(self._stats.max_batch_size, size)

    # --- the spool ----------------------------------------------------------------------

    def _spool_has_rows(self) -> bool:
        return any(
            p.exists() and p.stat().st_size > 0 for p in (self.spool_path, self._replay_path)
        )

    async def _spool(self, rows: list[ColumnRow], *, token: str | None) -> None:
        """Append rows as one JSON line {"token", "rows"}; a local file write, in a thread."""
        line = orjson.dumps({"token": token, "rows": rows}) + b"\n"
        async with self._spool_lock:
            await asyncio.to_thread(_append, self.spool_path, line)
        self._stats.spooled_rows += len(rows)

    async def replay_spool(self) -> bool:
        """Insert every spooled row; True when the spool is empty afterwards.

        A replay left over from an interrupted run (the `.replaying` file) goes first;
        the file is deleted only after all its batches are in.
        """
        async with self._spool_lock:
            if not self._replay_path.exists() and self.spool_path.exists():
                self.spool_path.rename(self._replay_path)
        if not self._replay_path.exists():
            return True
        batches = await asyncio.to_thread(_read_spool, self._replay_path, self._batch_size)
        try:
            for token, rows in batches:
                await self._sink.insert_metrics(rows, token)
                self._count_batch(len(rows))
                self._stats.replayed_rows += len(rows)
        except Exception as exc:
            self._stats.insert_failures += 1
            self._next_replay = time.monotonic() + self._retry_interval
            log.warning("analytics spool replay failed, will retry: %s", exc)
            return False
        self._replay_path.unlink()
        async with self._spool_lock:
            more = self.spool_path.exists()
        return not more or await self.replay_spool()


def _append(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as spool:
        spool.write(line)


def _read_spool(path: Path, chunk_rows: int) -> list[tuple[str, list[ColumnRow]]]:
    """The spool's batches: token-carrying ones as they were, the others in stable chunks."""
    batches: list[tuple[str, list[ColumnRow]]] = []
    loose: list[ColumnRow] = []
    with path.open("rb") as spool:
        for line in spool:
            if not line.strip():
                continue
            try:
                entry: dict[str, Any] = orjson.loads(line)
            except orjson.JSONDecodeError:  # a torn last line from a crash mid-append
                log.error("skipping an unreadable line of the analytics spool %s", path)
                continue
            if entry["token"] is None:
                loose.extend(entry["rows"])
            else:
                batches.append((entry["token"], entry["rows"]))
    batches.extend((_content_token(chunk), chunk) for chunk in _chunks(loose, chunk_rows))
    return batches


def _chunks(rows: list[ColumnRow], size: int) -> Iterator[list[ColumnRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _content_token(rows: list[ColumnRow]) -> str:
    """A token that depends only on the rows' request ids: the same chunk, the same token."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(str(row["request_id"]).encode())
    return "spool-" + digest.hexdigest()

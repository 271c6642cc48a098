"""The vector writer: embeds stored sessions' redacted inputs into the vector store.

Its queue is the sessions not yet flagged `vectorised` (db/vector_queue.py says why that
and not a second outbox or an in-memory queue): nothing is added to `process`, and it is
bounded by the batch size, not by what clients send. A batch is flagged only after the
store has taken its vectors; while the store is down the sessions simply stay waiting and
are retried every `retry_interval_seconds` (the "spool" is the primary database). A crash
between the upsert and the flag re-embeds the batch: the point id is the session id, so
the replay overwrites rather than duplicates.

The embedder is the ethics stage's (db/guard_model.py), loaded once per process; the
embedding runs in a worker thread. The text embedded is the stored input, which `process`
redacted of personal data before storing it, up to its first EMBEDDED_BYTES: the tokenizer
holds the GIL for a whole text, and a 20,000-emoji input stalled every request on the
process for 180 ms (`bench/abuse_bench.py --attackers emoji`); what a session is found by
is its opening. Search texts are cut the same way (`embed`).

Deleting vectors (an agent, an account, retention) goes through `forget()`, which takes
the writer's lock, so no batch read before a deletion is written after it in this process;
PostgreSQL's row locks do the same across processes (db/vector_queue.claimed_sessions).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from db.crypto import DataKeyError, Keyring
from db.drain_loop import DrainLoop
from db.repositories.session_texts import open_input
from db.session import Database
from db.vector_queue import QueuedSession, claimed_sessions
from db.vectors import SessionVector, VectorStore
from engine.ethics.semantic import Embedder

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 256
DEFAULT_RETRY_INTERVAL_SECONDS = 2.0
DEFAULT_GATHER_SECONDS = 0.2  # a woken drain waits this long for more sessions
RETENTION_CHECK_SECONDS = 3600.0


EMBEDDED_BYTES = 2_000


def opening(text: str) -> str:
    """The text's first EMBEDDED_BYTES of UTF-8 (a character cut in two is dropped)."""
    return text.encode()[:EMBEDDED_BYTES].decode(errors="ignore")


@dataclass
class VectorWriterStats:
    """Counters since start (for /metrics and tests)."""

    written: int = 0
    batches: int = 0
    failures: int = 0
    retention_runs: int = 0
    unreadable: int = 0  # sessions whose input did not open (db/crypto.py): not embedded


class VectorWriter(DrainLoop):
    """Waiting sessions → embeddings → the vector store, in batches, woken or on a timer."""

    def __init__(
        self,
        store: VectorStore,
        database: Database,
        embedder: Embedder,
        keyring: Keyring,
        *,
        retention_days: int,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL_SECONDS,
    ) -> None:
        super().__init__("vector-writer", retry_interval_seconds, DEFAULT_GATHER_SECONDS)
        self.store = store
        self.embedder = embedder
        self._database = database
        self._keyring = keyring
        self._retention = timedelta(days=retention_days)
        self._batch_size = batch_size
        self._stats = VectorWriterStats()
        self._lock = asyncio.Lock()
        self._retention_due = 0.0

    def stats(self) -> VectorWriterStats:
        return VectorWriterStats(**vars(self._stats))

    async def forget(
        self, *, agent_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None
    ) -> None:
        """Delete an agent's or a user's vectors, after their rows' deletion has committed:
        no batch in flight here writes after it. ServiceUnavailable when the store fails."""
        async with self._lock:
            await self.store.delete_where(agent_id=agent_id, user_id=user_id)

    async def drain(self) -> bool:
        """Embed waiting sessions batch by batch until none is left; False on a failure (the
        sessions stay waiting and are retried)."""
        async with self._lock:
            try:
                while await self._drain_batch() == self._batch_size:
                    pass
                await self._apply_retention()
            except Exception as exc:
                self._stats.failures += 1
                log.warning("vector writer could not write, will retry: %s", exc)
                return False
            return True

    async def drain_batch(self) -> int:
        """Embed one batch of waiting sessions now; how many (0: none waiting)."""
        async with self._lock:
            return await self._drain_batch()

    async def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """The vectors of `texts`' first EMBEDDED_BYTES, in a worker thread (a session's and
        a search text's alike, so that both compare the same extent)."""
        return await asyncio.to_thread(self.embedder.embed, [opening(text) for text in texts])

    async def _drain_batch(self) -> int:
        async with claimed_sessions(self._database, self._batch_size) as batch:
            if not batch:
                return 0
            opened = [(q, self._opened(q)) for q in batch]
            readable = [(q, text) for q, text in opened if text is not None]
            matrix = await self.embed([text for _, text in readable])
            await self.store.upsert(
                [
                    SessionVector(
                        q.id,
                        q.agent_id,
                        q.owner_id,
                        q.user_id,
                        q.created_at,
                        q.decision,
                        q.categories,
                        row.tolist(),
                    )
                    for (q, _), row in zip(readable, matrix, strict=True)
                ]
            )
        self._stats.written += len(readable)
        self._stats.batches += 1
        return len(batch)

    def _opened(self, queued: QueuedSession) -> str | None:
        """The session's input; None (logged, counted, flagged all the same: retrying cannot
        help until the keyring changes, and `consciousness reindex` retries) when its data key
        is missing or the row was altered."""
        try:
            return open_input(self._keyring, queued.id, queued.key_id, queued.input_text)
        except DataKeyError as exc:
            log.error("vector writer skips a session it cannot open: %s", exc)
            self._stats.unreadable += 1
            return None

    async def _apply_retention(self) -> None:
        """`apply_retention`, at most once an hour."""
        now = time.monotonic()
        if now >= self._retention_due:
            await self.apply_retention()
            self._retention_due = now + RETENTION_CHECK_SECONDS

    async def apply_retention(self) -> None:
        """Delete the vectors of sessions older than VECTOR_RETENTION_DAYS."""
        await self.store.delete_where(before=datetime.now(UTC) - self._retention)
        self._stats.retention_runs += 1

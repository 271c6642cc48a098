"""The OTLP ingestion queue (db.models.IngestQueue): batches of sealed GenAI calls, added
by the /v1/traces request that acknowledges them and claimed by the ingestion worker.

A claimed batch is consumed in the transaction that stores its sessions (`Claimed.rows`,
db/claims.py). A batch whose analysis fails is retried RETRY_DELAY_SECONDS later; after
`max_attempts` failures it is dead-lettered: kept with its last error, no longer claimed,
not counted as waiting, and counted by `dead_letters`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.claims import Claim, claimed
from db.crypto import DataKeyError, Keyring
from db.models import IngestQueue
from db.session import Database
from db.types import UTCDateTime

QUEUE = SQLModel.metadata.tables[str(IngestQueue.__tablename__)]
ERROR_CHARS = 500  # the column's length
RETRY_DELAY_SECONDS = 2.0  # before a failed batch is claimed again


@dataclass(frozen=True)
class QueuedBatch:
    """One claimed batch: its queue row, whose calls, and their opened payload (the JSON the
    request sealed)."""

    row_id: int
    batch_id: uuid.UUID
    user_id: uuid.UUID
    payload: bytes


@dataclass(frozen=True)
class ClaimedBatches:
    """Claimed batches: `batches()` opens them; `claim.consumed()` deletes them with what
    it writes (db/claims.py)."""

    claim: Claim
    keyring: Keyring

    def batches(self) -> list[QueuedBatch]:
        """The claimed batches, opened; a payload that does not open raises."""
        return [
            QueuedBatch(
                row_id,
                uuid.UUID(str(batch_id)),
                uuid.UUID(str(user_id)),
                self.keyring.open(key_id, payload, _associated_data(uuid.UUID(str(batch_id)))),
            )
            for row_id, batch_id, user_id, key_id, payload in self.claim.rows
        ]


def _associated_data(batch_id: uuid.UUID) -> bytes:
    return b"ingest_queue.payload:" + batch_id.bytes


async def queued_spans(session: AsyncSession) -> int:
    """How many calls wait in the queue, all users together (dead letters do not wait)."""
    waiting = select(func.coalesce(func.sum(IngestQueue.spans), 0)).where(
        col(IngestQueue.dead_at).is_(None)
    )
    return int((await session.exec(waiting)).one())


async def dead_letters(session: AsyncSession) -> int:
    """How many batches were given up after failing too often (their rows are kept)."""
    dead = select(func.count()).select_from(IngestQueue).where(col(IngestQueue.dead_at).isnot(None))
    return int((await session.exec(dead)).one())


async def enqueue(
    session: AsyncSession, keyring: Keyring, user_id: uuid.UUID, spans: int, payload: bytes
) -> uuid.UUID:
    """Add a batch of `spans` calls, its payload sealed; its batch id."""
    batch_id = uuid.uuid4()
    session.add(
        IngestQueue(
            batch_id=batch_id,
            user_id=user_id,
            spans=spans,
            key_id=keyring.current_id,
            payload=keyring.seal(payload, _associated_data(batch_id)),
        )
    )
    await session.flush()
    return batch_id


@asynccontextmanager
async def claimed_batches(
    database: Database, keyring: Keyring, limit: int, now: datetime
) -> AsyncIterator[ClaimedBatches]:
    """Up to `limit` of the oldest batches due at `now` and not dead letters, for the block
    to consume through `claim.consumed()` (db/claims.py); else they stay queued."""
    columns = [QUEUE.c.batch_id, QUEUE.c.user_id, QUEUE.c.key_id, QUEUE.c.payload]
    due = QUEUE.c.dead_at.is_(None) & or_(QUEUE.c.retry_at.is_(None), QUEUE.c.retry_at <= now)
    async with claimed(database, QUEUE, columns, limit, due) as claim:
        yield ClaimedBatches(claim, keyring)


_FAILED = (
    update(QUEUE)
    .where(QUEUE.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        attempts=QUEUE.c.attempts + 1,
        last_error=bindparam("error"),
        retry_at=bindparam("retry_at", type_=UTCDateTime()),
        dead_at=case(
            (
                QUEUE.c.attempts + 1 >= bindparam("max_attempts"),
                bindparam("now", type_=UTCDateTime()),
            ),
            else_=None,
        ),
    )
    .returning(QUEUE.c.batch_id, QUEUE.c.dead_at)
)


async def record_failure(
    database: Database, row_ids: Sequence[int], error: str, now: datetime, max_attempts: int
) -> list[uuid.UUID]:
    """Count a failed attempt of these batches and delay their next; the ids of those that
    are now dead letters."""
    params = {
        "ids": list(row_ids),
        "error": error[:ERROR_CHARS],
        "retry_at": now + timedelta(seconds=RETRY_DELAY_SECONDS),
        "max_attempts": max_attempts,
        "now": now,
    }
    async with database.write_session() as session:
        found = (await session.exec(_FAILED, params=params)).all()
    return [uuid.UUID(str(batch_id)) for batch_id, dead_at in found if dead_at is not None]


_RESEAL = (
    update(QUEUE)
    .where(QUEUE.c.id == bindparam("row_id"), QUEUE.c.key_id == bindparam("old_key_id"))
    .values(key_id=bindparam("new_key_id"), payload=bindparam("new_payload"))
)


async def count_to_rotate(session: AsyncSession, keyring: Keyring) -> int:
    """How many queued batches (dead letters too) are not sealed under the current key."""
    statement = (
        select(func.count())
        .select_from(IngestQueue)
        .where(IngestQueue.key_id != keyring.current_id)
    )
    return int((await session.exec(statement)).one())


async def rotate_batch(session: AsyncSession, keyring: Keyring, limit: int) -> int:
    """Re-seal under the current key up to `limit` queued batches sealed otherwise; how many.

    As db/repositories/session_texts.rotate_batch: each row is written only if its key id
    is still the one read, so the worker's deletion of a batch it stored meanwhile wins.
    A payload that does not open stops it (DataKeyError naming the batch).
    """
    columns = (QUEUE.c.id, QUEUE.c.batch_id, QUEUE.c.key_id, QUEUE.c.payload)
    statement = (
        select(*columns)
        .where(QUEUE.c.key_id != keyring.current_id)
        .order_by(QUEUE.c.id)
        .limit(limit)
    )
    rows = (await session.exec(statement)).all()
    for row_id, batch_id, key_id, payload in rows:
        bound = _associated_data(uuid.UUID(str(batch_id)))
        try:
            opened = keyring.open(key_id, payload, bound)
        except DataKeyError as error:
            raise DataKeyError(f"queued OTLP batch {batch_id}: {error}") from None
        params = {
            "row_id": row_id,
            "old_key_id": key_id,
            "new_key_id": keyring.current_id,
            "new_payload": keyring.seal(opened, bound),
        }
        await session.exec(_RESEAL, params=params)
    return len(rows)

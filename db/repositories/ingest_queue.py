"""The OTLP ingestion queue (db.models.IngestQueue): batches of sealed GenAI calls, added
by the /v1/traces request that acknowledges them and claimed by the ingestion worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.claims import claimed_rows
from db.crypto import Keyring
from db.models import IngestQueue
from db.session import Database

QUEUE = SQLModel.metadata.tables[str(IngestQueue.__tablename__)]


@dataclass(frozen=True)
class QueuedBatch:
    """One claimed batch: whose calls, and their opened payload (the JSON the request sealed)."""

    batch_id: uuid.UUID
    user_id: uuid.UUID
    payload: bytes


def _associated_data(batch_id: uuid.UUID) -> bytes:
    return b"ingest_queue.payload:" + batch_id.bytes


async def queued_spans(session: AsyncSession) -> int:
    """How many calls wait in the queue, all users together."""
    total = (await session.exec(select(func.coalesce(func.sum(IngestQueue.spans), 0)))).one()
    return int(total)


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
    database: Database, keyring: Keyring, limit: int
) -> AsyncIterator[list[QueuedBatch]]:
    """Up to `limit` of the oldest batches, opened; deleted when the block ends without
    error (db/claims.py)."""
    columns = [QUEUE.c.batch_id, QUEUE.c.user_id, QUEUE.c.key_id, QUEUE.c.payload]
    async with claimed_rows(database, QUEUE, columns, limit) as found:
        yield [
            QueuedBatch(
                uuid.UUID(str(batch_id)),
                uuid.UUID(str(user_id)),
                keyring.open(key_id, payload, _associated_data(uuid.UUID(str(batch_id)))),
            )
            for _, batch_id, user_id, key_id, payload in found
        ]

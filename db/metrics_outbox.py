"""The metrics outbox: rows staged in the transaction of their session, claimed in batches.

`stage` adds the row to the caller's transaction, so a committed session has its committed
metrics row and a rolled-back one has none. `claimed_batch` hands the oldest rows to the
analytics writer and deletes them when its block succeeds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, insert, select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.analytics import ColumnRow
from db.claims import claimed_rows
from db.models import MetricsOutbox
from db.session import Database

OUTBOX = SQLModel.metadata.tables[str(MetricsOutbox.__tablename__)]
_STAGE = insert(OUTBOX)  # built once: `process` stages a row on every call


@dataclass(frozen=True)
class OutboxRow:
    """One staged row: its drain position and the metrics row (ids and times as strings)."""

    id: int
    row: ColumnRow


def staged_values(row: ColumnRow) -> dict[str, Any]:
    """The outbox columns of `row` (its JSON, and the ids its deletion cascades from)."""
    return {"user_id": row["user_id"], "agent_id": row["agent_id"], "row": orjson.dumps(row)}


async def stage(session: AsyncSession, *rows: ColumnRow) -> None:
    """Add `rows` to the outbox in `session`'s transaction (one INSERT of each's JSON)."""
    values = [staged_values(row) for row in rows]
    if values:
        await session.exec(_STAGE, params=values[0] if len(values) == 1 else values)


async def count_staged(database: Database) -> int:
    """Rows in the outbox, whichever process staged them."""
    async with database.session() as session:
        result = await session.exec(select(func.count()).select_from(OUTBOX))  # type: ignore[call-overload]
        return int(result.scalar_one())


@asynccontextmanager
async def claimed_batch(database: Database, limit: int) -> AsyncIterator[list[OutboxRow]]:
    """Up to `limit` of the oldest staged rows, deleted when the block ends without error
    (db/claims.py says how several processes share them)."""
    async with claimed_rows(database, OUTBOX, [OUTBOX.c.row], limit) as found:
        yield [OutboxRow(row[0], orjson.loads(row[1])) for row in found]

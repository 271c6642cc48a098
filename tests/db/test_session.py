"""Units of work on the relational store: writers under contention."""

from __future__ import annotations

import asyncio
from pathlib import Path

from db.session import Database


async def _overlaps(database: Database, writers: int) -> list[tuple[str, int]]:
    """The order in which `writers` concurrent write sessions entered and left."""
    order: list[tuple[str, int]] = []

    async def writer(n: int) -> None:
        async with database.write_session():
            order.append(("in", n))
            await asyncio.sleep(0.05)
            order.append(("out", n))

    try:
        await asyncio.gather(*(writer(n) for n in range(writers)))
    finally:
        await database.close()
    return order


async def test_sqlite_writers_of_a_process_queue_first_come_first_served(tmp_path: Path) -> None:
    order = await _overlaps(Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), 3)
    assert order == [("in", 0), ("out", 0), ("in", 1), ("out", 1), ("in", 2), ("out", 2)]


async def test_postgresql_writers_do_not_queue_in_the_process(postgres_url: str) -> None:
    database, together = Database(postgres_url), asyncio.Barrier(3)

    async def writer() -> None:
        async with database.write_session():
            await asyncio.wait_for(together.wait(), 5)  # times out if the process queues them

    try:
        await asyncio.gather(*(writer() for _ in range(3)))
    finally:
        await database.close()

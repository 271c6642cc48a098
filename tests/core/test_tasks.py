"""cancel_and_wait: a stopped task has finished, whatever it was doing."""

from __future__ import annotations

import asyncio

from core.tasks import cancel_and_wait


async def test_the_task_has_finished_and_ran_its_cleanup_when_it_returns() -> None:
    cleaned = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    assert cleaned.is_set()


async def test_nothing_or_a_finished_task_is_fine() -> None:
    await cancel_and_wait(None)
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait(done)
    assert done.done()
    assert not done.cancelled()

"""Broker events published after the request that caused them, in order, in batches.

A request hands its events to `send` and goes on; one task per process drains the queue and
publishes everything waiting in one `publish_many` (one Redis pipeline). Events keep the
order in which they were sent. The queue is bounded: when the broker falls that far behind,
`send` waits for room rather than drop events or grow. A batch the broker refuses is logged
and lost, as an awaited publish that failed was: the change behind it is committed, and a
lost live event must not fail a request (subscribers see the gap in the sequence numbers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from core.tasks import cancel_and_wait
from db.broker_local import Message
from db.pubsub import Broker

log = logging.getLogger(__name__)

OutgoingEvent = tuple[str, Message]  # (topic, message)
QUEUE_SIZE = 10_000  # events waiting, per process
BATCH_SIZE = 500  # events per publish_many
CLOSE_TIMEOUT_SECONDS = 5.0


class Publisher:
    """Publishes sent events through `broker` from a task of its own (see the module)."""

    def __init__(self, broker: Broker, queue_size: int = QUEUE_SIZE) -> None:
        self._broker = broker
        self._queue: asyncio.Queue[OutgoingEvent] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None

    async def send(self, events: Iterable[OutgoingEvent]) -> None:
        """Queue (topic, message) pairs for publishing; waits only while the queue is full."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-publisher")
        for event in events:
            await self._queue.put(event)

    async def flush(self) -> None:
        """Return once every event sent so far has been published (or given up)."""
        await self._queue.join()

    async def close(self) -> None:
        """Publish what is queued (for at most CLOSE_TIMEOUT_SECONDS), then stop the task."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):  # not wait_for: see Stores.health
                await self.flush()
        except TimeoutError:
            log.warning("closing with %d events unpublished", self._queue.qsize())
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._broker.publish_many(batch)
            except Exception:  # committed already; see the module docstring
                log.exception("could not publish %d events (first on %s)", len(batch), batch[0][0])
            finally:
                for _ in batch:
                    self._queue.task_done()

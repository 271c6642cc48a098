"""How the metrics row (core.records.MetricsRow) of a processed request is stored and sent.

`stage_metrics` adds the row to the metrics outbox in the transaction that stores the
request's session (or, for a failed request, a transaction of its own), so the row is
durable when the request is answered. `emit_metrics`, after the commit, wakes the analytics
writer that drains the outbox into ClickHouse (`context.stores.metrics_writer`, started and
stopped by the app's lifespan) and queues the row for the broker (live dashboards) through
the stores' publisher (db/publisher.py). Nothing else stores or publishes metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psutil
from sqlmodel.ext.asyncio.session import AsyncSession

from core.records import MetricsRow
from db import metrics_outbox
from db.analytics import metrics_columns
from db.publisher import OutgoingEvent
from resolvers.context import Context
from resolvers.events import agent_metrics_topic, user_metrics_topic

USAGE_SAMPLE_SECONDS = 1.0


class _ProcessUsage:
    """This process's CPU and memory, read from /proc at most once per USAGE_SAMPLE_SECONDS.

    Every metrics row carries them; reading them per request cost two /proc reads each
    (3 % of a `process` call's CPU), and a CPU percentage over the few milliseconds since
    the previous request says little anyway.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading is meaningless; prime it
        self._read_at = -USAGE_SAMPLE_SECONDS
        self._reading = (0.0, 0.0)

    def __call__(self) -> tuple[float, float]:
        """CPU use (% of one core) over the last sample interval, and RSS in MB."""
        now = time.monotonic()
        if now - self._read_at >= USAGE_SAMPLE_SECONDS:
            rss_mb = self._process.memory_info().rss / (1024 * 1024)
            self._reading, self._read_at = (self._process.cpu_percent(None), rss_mb), now
        return self._reading


process_usage = _ProcessUsage()


def metrics_topics(metrics: MetricsRow) -> tuple[str, str]:
    """The broker topics a metrics row goes to: its agent's and its user's."""
    return agent_metrics_topic(metrics.agent_id), user_metrics_topic(metrics.user_id)


async def stage_metrics(session: AsyncSession, metrics: MetricsRow) -> None:
    """Stage the row for ClickHouse in `session`'s transaction (the session's own)."""
    await metrics_outbox.stage(session, metrics_columns(metrics))


async def emit_metrics(
    context: Context, metrics: MetricsRow, also: Sequence[OutgoingEvent] = ()
) -> None:
    """After `stage_metrics` committed: wake the analytics writer and queue the row for
    dashboards, followed by `also` (the request's other events, in the same batch)."""
    await emit_all(context, [(metrics, also)])


async def emit_all(
    context: Context, emitted: Sequence[tuple[MetricsRow, Sequence[OutgoingEvent]]]
) -> None:
    """`emit_metrics` for several committed rows at once: one wake, one publisher batch."""
    if not emitted:
        return
    writer = context.stores.metrics_writer
    if writer is not None:
        writer.notify(len(emitted))
    vectors = context.stores.vector_writer
    if vectors is not None:
        vectors.wake()  # the sessions are stored: embed them (db/vector_writer.py)
    events: list[OutgoingEvent] = []
    for metrics, also in emitted:
        payload = metrics.to_payload()
        events.extend((topic, payload) for topic in metrics_topics(metrics))
        events.extend(also)
    await context.stores.publisher.send(events)

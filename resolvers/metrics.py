"""The one function that emits the metrics row (core.records.MetricsRow) of a processed request.

`emit_metrics` hands the row to every consumer: the broker (live dashboards), through the
stores' publisher (db/publisher.py), and the analytics writer (ClickHouse), which lives on
the stores (`context.stores.metrics_writer`, started and flushed by the app's lifespan).
Both queue; neither keeps the request waiting. Nothing else publishes or stores metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import psutil

from core.records import MetricsRow
from db.analytics import metrics_columns
from db.publisher import OutgoingEvent
from resolvers.context import Context
from resolvers.events import agent_metrics_topic, user_metrics_topic

_PROCESS = psutil.Process()
_PROCESS.cpu_percent(None)  # the first reading is meaningless; prime it at import


def process_usage() -> tuple[float, float]:
    """This process's CPU use (% of one core) since the previous call, and its RSS in MB."""
    return _PROCESS.cpu_percent(None), _PROCESS.memory_info().rss / (1024 * 1024)


def metrics_topics(metrics: MetricsRow) -> tuple[str, str]:
    """The broker topics a metrics row goes to: its agent's and its user's."""
    return agent_metrics_topic(metrics.agent_id), user_metrics_topic(metrics.user_id)


async def emit_metrics(
    context: Context, metrics: MetricsRow, also: Sequence[OutgoingEvent] = ()
) -> None:
    """Queue the row for ClickHouse and for dashboards, followed by `also` (the request's
    other events, published in the same batch). Waits on neither store."""
    writer = context.stores.metrics_writer
    if writer is not None:
        await writer.enqueue(metrics_columns(metrics))
    payload = metrics.to_payload()
    await context.stores.publisher.send(
        [*((topic, payload) for topic in metrics_topics(metrics)), *also]
    )

"""The one function that emits the metrics row (core.records.MetricsRow) of a processed request.

`emit_metrics` hands the row to every consumer: the broker (live dashboards) and the
analytics writer (ClickHouse), which lives on the stores (`context.stores.metrics_writer`,
started and flushed by the app's lifespan). Nothing else publishes or stores metrics.
"""

from __future__ import annotations

import psutil

from core.records import MetricsRow
from db.analytics import metrics_columns
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


async def emit_metrics(context: Context, metrics: MetricsRow) -> None:
    """Queue the row for ClickHouse (never blocks on it), then publish it to dashboards."""
    writer = context.stores.metrics_writer
    if writer is not None:
        await writer.enqueue(metrics_columns(metrics))
    payload = metrics.to_payload()
    for topic in metrics_topics(metrics):
        await context.stores.broker.publish(topic, payload)

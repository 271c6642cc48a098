"""One row of metrics per processed request, and the one function that emits it.

`emit_metrics` hands the row to every consumer: the broker (live dashboards) and the
analytics writer (ClickHouse), which lives on the stores (`context.stores.metrics_writer`,
started and flushed by the app's lifespan). Nothing else publishes or stores metrics.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil

from resolvers.context import Context

_PROCESS = psutil.Process()
_PROCESS.cpu_percent(None)  # the first reading is meaningless; prime it at import


@dataclass(frozen=True)
class RequestMetrics:
    """What one `process` call measured; numbers keep the engine's documented ranges."""

    request_id: uuid.UUID
    user_id: uuid.UUID
    agent_id: uuid.UUID
    timestamp: datetime
    processing_time_ms: float
    awareness_level: float
    ethical_score: float
    confidence: float
    cognitive_load: float
    valence: float
    arousal: float
    blocked: bool
    error: bool
    violation_categories: tuple[str, ...]
    input_chars: int
    cpu_percent: float
    memory_mb: float
    gpu_percent: float | None = None  # no GPU is read on this server

    def to_message(self) -> dict[str, Any]:
        """A JSON-ready dict (ids and times as strings) for the broker."""
        message = dataclasses.asdict(self)
        message["request_id"] = str(self.request_id)
        message["user_id"] = str(self.user_id)
        message["agent_id"] = str(self.agent_id)
        message["timestamp"] = self.timestamp.isoformat()
        message["violation_categories"] = list(self.violation_categories)
        return message


def analytics_row(metrics: RequestMetrics) -> dict[str, Any]:
    """The row of the consciousness_metrics table (db/analytics_migrations) for these metrics."""
    row = dataclasses.asdict(metrics)
    row["gpu_usage"] = row.pop("gpu_percent")
    row["violation_categories"] = list(metrics.violation_categories)
    return row


def process_usage() -> tuple[float, float]:
    """This process's CPU use (% of one core) since the previous call, and its RSS in MB."""
    return _PROCESS.cpu_percent(None), _PROCESS.memory_info().rss / (1024 * 1024)


def metrics_topics(metrics: RequestMetrics) -> tuple[str, str]:
    """The broker topics a metrics row goes to: its agent's and its user's."""
    return f"metrics:agent:{metrics.agent_id}", f"metrics:user:{metrics.user_id}"


async def emit_metrics(context: Context, metrics: RequestMetrics) -> None:
    """Queue the row for ClickHouse (never blocks on it), then publish it to dashboards."""
    writer = context.stores.metrics_writer
    if writer is not None:
        await writer.enqueue(analytics_row(metrics))
    message = metrics.to_message()
    for topic in metrics_topics(metrics):
        await context.stores.broker.publish(topic, message)

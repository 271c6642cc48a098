"""The metrics row: one typed definition for the analytics table, the broker and GraphQL.

db/analytics.py derives the ClickHouse columns (names and types) from these fields, the
broker carries `to_payload()`, and GraphQL's MetricsEvent has the same fields; tests check
the live table and the GraphQL type against this class.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from core.payloads import Payload


@dataclass(frozen=True, slots=True)
class MetricsRow(Payload):
    """What one `process` call measured; numbers keep the engine's documented ranges.

    Fields are in the analytics table's column order. A field's `metadata` names its column
    (`column`) or ClickHouse type (`clickhouse`) where the ones derived from it do not fit.
    """

    timestamp: datetime
    request_id: uuid.UUID
    user_id: uuid.UUID
    agent_id: uuid.UUID
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
    gpu_percent: float | None = field(  # no GPU is read on this server
        default=None, metadata={"column": "gpu_usage", "clickhouse": "Nullable(Float32)"}
    )
    # Where the request came from: `graphql` (process) or `otlp` (a GenAI span ingested at
    # /v1/traces). The rest describe the observed model call; empty or 0 for `process`.
    source: str = field(default="graphql", metadata={"clickhouse": "LowCardinality(String)"})
    model: str = field(default="", metadata={"clickhouse": "LowCardinality(String)"})
    provider: str = field(default="", metadata={"clickhouse": "LowCardinality(String)"})
    input_tokens: int = 0
    output_tokens: int = 0
    trace_id: str = ""  # hex, as OTLP/JSON writes it
    span_id: str = ""

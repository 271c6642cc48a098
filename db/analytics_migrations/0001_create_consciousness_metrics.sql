-- One row per processed request (core/records.py MetricsRow, checked by test_table). No quantum_coherence:
-- the engine measures nothing of the kind, so no column pretends it does.
-- ${retention_days} is ANALYTICS_RETENTION_DAYS; the runner re-applies the TTL when it changes.
-- non_replicated_deduplication_window lets an insert carry insert_deduplication_token, so a
-- replayed batch that had in fact arrived is dropped instead of stored twice.
CREATE TABLE IF NOT EXISTS consciousness_metrics
(
    timestamp DateTime64(3, 'UTC'),
    request_id UUID,
    user_id UUID,
    agent_id UUID,
    processing_time_ms Float64,
    awareness_level Float64,
    ethical_score Float64,
    confidence Float64,
    cognitive_load Float64,
    valence Float64,
    arousal Float64,
    blocked Bool,
    error Bool,
    violation_categories Array(LowCardinality(String)),
    input_chars UInt32,
    cpu_percent Float64,
    memory_mb Float64,
    gpu_usage Nullable(Float32)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (timestamp, user_id, request_id)
TTL toDateTime(timestamp) + toIntervalDay(${retention_days})
SETTINGS non_replicated_deduplication_window = 1000

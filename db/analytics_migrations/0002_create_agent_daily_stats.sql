-- What each agent's metrics rows add up to, per user and UTC day: the stats of an agent
-- listing read a few rows per listed agent here, where consciousness_metrics (ordered by
-- time) would be scanned whole. Filled by the view of 0003 as rows arrive.
-- By user, so deleting a user's or an agent's rows deletes exactly their part here too
-- (AnalyticsStore.delete_metrics); by day, so the TTL drops a day once the newest of its
-- rows has left the metrics table's retention (the runner re-applies it when it changes).
-- quantileExact keeps every time, so the p95 is the exact one analytics computes.
-- Small granules: a row holds a day's times, and a read looks up only a page's agents.
-- The deduplication window is the metrics table's: a replayed batch that the metrics table
-- drops reaches no row here either.
CREATE TABLE IF NOT EXISTS agent_daily_stats
(
    agent_id UUID,
    user_id UUID,
    day Date,
    requests AggregateFunction(count),
    awareness_level AggregateFunction(avg, Float64),
    ethical_score AggregateFunction(avg, Float64),
    processing_time_ms AggregateFunction(quantileExact(0.95), Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY (agent_id, user_id, day)
TTL day + toIntervalDay(${retention_days} + 1)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 1000

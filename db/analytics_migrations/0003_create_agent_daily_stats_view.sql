-- Adds every block inserted into consciousness_metrics to agent_daily_stats, as it is inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS agent_daily_stats_view TO agent_daily_stats AS
SELECT
    agent_id,
    user_id,
    toDate(timestamp) AS day,
    countState() AS requests,
    avgState(awareness_level) AS awareness_level,
    avgState(ethical_score) AS ethical_score,
    quantileExactState(0.95)(processing_time_ms) AS processing_time_ms
FROM consciousness_metrics
GROUP BY agent_id, user_id, day

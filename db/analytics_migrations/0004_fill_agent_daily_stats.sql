-- The rows consciousness_metrics held before the view of 0003 existed. A row inserted
-- between 0003 and this statement would count twice, so migrate while no server writes
-- metrics (a server migrates at startup, before its writer starts).
INSERT INTO agent_daily_stats
SELECT
    agent_id,
    user_id,
    toDate(timestamp) AS day,
    countState(),
    avgState(awareness_level),
    avgState(ethical_score),
    quantileExactState(0.95)(processing_time_ms)
FROM consciousness_metrics
GROUP BY agent_id, user_id, day

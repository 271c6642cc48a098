-- The dimensions of an ingested GenAI span (OTLP, /v1/traces): where the row came from
-- (graphql | otlp), the observed model and provider, its token counts, and the ids that
-- lead back to the trace. Rows written before keep the defaults: graphql, empty, 0.
ALTER TABLE consciousness_metrics
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) DEFAULT 'graphql',
    ADD COLUMN IF NOT EXISTS model LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS provider LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS input_tokens UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS output_tokens UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS trace_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS span_id String DEFAULT ''

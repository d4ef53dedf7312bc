-- Quality metrics as instances report them: the seed's TimescaleDB hypertable translated to MergeTree.
-- time/instance_id/metric_name/value/tags are the seed's columns; tags (JSONB there) become a Nested
-- key/value pair of arrays, because ClickHouse 18.16 has neither Map nor JSON types.
-- batch_id and received_at tie each row to the batch it came in (duplicates and lag are measurable).
-- Weekly partitions: retention drops whole weeks; the ORDER BY serves "one metric over time" queries.
CREATE TABLE IF NOT EXISTS metrics_quality (
    time DateTime('UTC'),
    instance_id String,
    metric_name LowCardinality(String),
    value Float64,
    tags Nested(key String, value String),
    batch_id String,
    received_at DateTime('UTC')
) ENGINE = MergeTree()
PARTITION BY toMonday(time)
ORDER BY (metric_name, instance_id, time);

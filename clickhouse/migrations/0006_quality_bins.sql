-- Quality value histograms per hour: what the quality board's quantiles (API latency, CPU) are read from,
-- instead of the quantilesState columns of 0004's quality_1h (which stay, as do quality_1m/1d's, for the
-- queries that read them).
--
-- Why: a quantilesState keeps up to 8,192 raw samples, so merging it costs as much as the samples it
-- holds. At 5,000 instances × 30 days a 7-day API latency panel merged a week of hourly states
-- (bench:grafana, p50 / p95: 283–286 / 295–311 ms on a quiet box, 2.2 / 2.7 s on a busy one; goal 300 ms
-- for the whole board), and beyond 8,192 samples a merged state is a random sample whose tail can be far off
-- (same fleet: a 7-day p99 off by up to 20.9 %, one hour's p99 by 61 %). From these bins the same panel
-- took 41 / 46–48 ms (quiet), within 1.08 % of the exact quantiles (grafana/README.md).
-- Here a value is counted in a log-spaced bin instead, so the size of a group is bounded by the number of
-- distinct bins its values fall in, whatever the fleet's size, and bins merge by addition.
--
-- Bins: 32 per power of two. A value v != 0 falls in bin i = floor(log2(|v|) * 32), which spans
-- [2^(i/32), 2^((i+1)/32)) in magnitude, and is stored as the bin's representative value
--   value_bin = sign(v) * 2^(i/32) * 2 / (1 + 2^(-1/32))
-- (0 stays 0). Every v of the bin is within a relative error alpha = (g - 1) / (g + 1) of value_bin,
-- where g = 2^(1/32): alpha = 0.01083 (1.1 %). Non-finite values (NaN, ±inf) are not counted.
--
-- Reading (grafana/boards/histogram.ts writes the SQL): per group, the bins sorted by value_bin with
-- running counts of samples; the level-quantile is then computed as `quantiles` computes it on raw values,
-- by linear interpolation between the samples of 0-based ranks floor(level * (n - 1)) and the next, each
-- read as its bin's value. Error bound: each of the two samples is off by at most alpha (relative), so the
-- result is within alpha * ((1 - f) * |lo| + f * |hi|) of the exact quantile (f the fractional rank, lo and
-- hi the two samples), which is alpha * |exact quantile| when lo and hi have one sign: within 1.1 % of
-- the exact quantile of the raw values, whatever their number. (quantileExactWeighted(value_bin, samples)
-- is shorter but takes the nearest rank without interpolating, far from `quantiles` on small groups; 18.16
-- has no interpolating weighted quantile.) The bins and this computation give the same answer on 18.16
-- and 26.x (the t-digest would not, see 0004). samples and value_sum are the group's exact count and its
-- sum up to floating-point rounding (mean = sum(value_sum) / sum(samples)).
--
-- Engine: SummingMergeTree, one row per bin and group; merges add samples and value_sum of rows with the
-- same key. Rows of one key may still be unmerged, so a query must always aggregate (sum(samples), the
-- histogram of histogram.ts), never read a row as the group's total.
-- Key: 0004's quality key without error_type (a distribution of error counts by type is not asked for);
-- PARTITION BY (tier, month) as every rollup, so retention drops it with the hourly ones.
-- One level only: each view on metrics_quality costs about as much CPU per inserted row as one of 0004's
-- (a GROUP BY over every row), and nothing reads daily histograms yet; a daily level, when a panel or a
-- query needs one, is another view fed from metrics_quality as in 0004.
CREATE TABLE IF NOT EXISTS quality_bins_1h (
    bucket DateTime('UTC'),
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    metric_name LowCardinality(String),
    operation LowCardinality(String),
    value_bin Float64,
    samples UInt64,
    value_sum Float64
) ENGINE = SummingMergeTree()
PARTITION BY (tier, toStartOfMonth(bucket))
ORDER BY (metric_name, bucket, tier, app_version, platform, operation, value_bin);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_quality_bins_1h TO quality_bins_1h AS
SELECT
    toStartOfHour(time) AS bucket,
    tier,
    app_version,
    platform,
    metric_name,
    toLowCardinality(tags.value[indexOf(tags.key, 'operation')]) AS operation,
    if(value = 0, 0, if(value > 0, 1, -1) * exp2(floor(log2(abs(value)) * 32) / 32) * (2 / (1 + exp2(-1 / 32)))) AS value_bin,
    count() AS samples,
    sum(value) AS value_sum
FROM metrics_quality
WHERE isFinite(value)
GROUP BY bucket, tier, app_version, platform, metric_name, operation, value_bin;

-- Backfill: the rows metrics_quality held before the view existed, from the raw table itself. The view
-- exists from here on, so every row inserted from now on reaches the bins through it; the table is
-- emptied right before the backfill (dropping what the view wrote since it was created, which the
-- backfill reads again from metrics_quality; in cluster mode by a mutation on every shard, see
-- lib/migrate/cluster-sql.ts), so a re-run after a failure starts the backfill over instead of counting
-- twice. What is not exact: rows inserted between the TRUNCATE and the start of the
-- INSERT … SELECT after it (the INSERT's snapshot of metrics_quality is taken when it starts; a few
-- milliseconds) are counted twice. Migrations run before the processors start (`npm start`), where the
-- window is empty; during a Helm upgrade the old processors may insert in it. In cluster mode the mutation
-- runs in the background: for the seconds it takes, what the view wrote before it is counted twice.
-- The backfill reads all of metrics_quality in one statement (minutes on a large table; the runner allows
-- an hour per statement).
-- Rows dropped from metrics_quality by retention before this migration are not in the bins; the old
-- quality_1h/1d quantile states still cover them.
TRUNCATE TABLE quality_bins_1h;

INSERT INTO quality_bins_1h (bucket, tier, app_version, platform, metric_name, operation, value_bin, samples, value_sum)
SELECT
    toStartOfHour(time) AS bucket,
    tier,
    app_version,
    platform,
    metric_name,
    toLowCardinality(tags.value[indexOf(tags.key, 'operation')]) AS operation,
    if(value = 0, 0, if(value > 0, 1, -1) * exp2(floor(log2(abs(value)) * 32) / 32) * (2 / (1 + exp2(-1 / 32)))) AS value_bin,
    count() AS samples,
    sum(value) AS value_sum
FROM metrics_quality
WHERE isFinite(value)
GROUP BY bucket, tier, app_version, platform, metric_name, operation, value_bin;

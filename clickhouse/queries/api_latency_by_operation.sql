-- Purpose: API latency per operation over the last 7 days (today included): which operations are slow,
--          and how slow their tail is (p95 is what the board alerts on).
-- Returns: one row per operation tag of api_response_times_ms: operation, samples, avg_ms, p50_ms,
--          p95_ms, p99_ms, max_ms (ms, rounded to 2 places). Ordered by p95_ms descending, then operation.
-- Reads:   quality_1d.
-- quantilesMerge combines the daily states of every tier, version and platform into one distribution
-- per operation (exact up to 8192 samples per state, a uniform sample beyond).
SELECT
    operation,
    samples,
    round(total_ms / samples, 2) AS avg_ms,
    round(q[1], 2) AS p50_ms,
    round(q[2], 2) AS p95_ms,
    round(q[3], 2) AS p99_ms,
    round(slowest_ms, 2) AS max_ms
FROM
(
    SELECT
        operation,
        countMerge(samples) AS samples,
        sumMerge(value_sum) AS total_ms,
        maxMerge(value_max) AS slowest_ms,
        quantilesMerge(0.5, 0.95, 0.99)(value_quantiles) AS q
    FROM quality_1d
    WHERE metric_name = 'api_response_times_ms' AND day > toDate(now(), 'UTC') - 7
    GROUP BY operation
)
ORDER BY p95_ms DESC, operation

-- Purpose: which SongMartyn versions report the most errors, normalised by how much they run:
--          errors per instance-hour over the last 7 days.
-- Returns: one row per app_version that sent quality metrics: app_version, errors (sum of the
--          error_count_by_type values), instance_hours (hours in which an instance of that version
--          sent any quality metric, summed over instances), errors_per_instance_hour (rounded to 4
--          places). Ordered by errors_per_instance_hour descending, then app_version.
-- Reads:   quality_1h.
-- Assumes each error_count_by_type value counts the errors since the instance's previous report (a
--          delta), so values add up. Instance-hours come from the per-hour uniq state of all metrics of a
--          version, so instances that reported no error still count in the denominator.
SELECT
    app_version,
    sum(hour_errors) AS errors,
    sum(hour_instances) AS instance_hours,
    round(sum(hour_errors) / sum(hour_instances), 4) AS errors_per_instance_hour
FROM
(
    SELECT
        bucket,
        app_version,
        sumMergeIf(value_sum, metric_name = 'error_count_by_type') AS hour_errors,
        uniqMerge(instances) AS hour_instances
    FROM quality_1h
    WHERE bucket > now() - INTERVAL 7 DAY
    GROUP BY bucket, app_version
)
GROUP BY app_version
ORDER BY errors_per_instance_hour DESC, app_version

-- Purpose: how many instances were active each day, per SongMartyn version, over the last 30 days
--          (today included) — the fleet's adoption of each release.
-- Returns: one row per (day, app_version): day, app_version, instances. Ordered by day, then version.
-- Reads:   active_instances_1d (an instance is active on a day when it sent any telemetry family).
-- uniqMerge per day and version: an instance counts once per day however many families, tiers or
-- countries it reported under. Summing these rows over several days would count an instance once per
-- day it was active; use active_instances_rolling.sql for weekly / monthly actives.
SELECT
    day,
    app_version,
    uniqMerge(instances) AS instances
FROM active_instances_1d
WHERE day > toDate(now(), 'UTC') - 30
GROUP BY day, app_version
ORDER BY day, app_version

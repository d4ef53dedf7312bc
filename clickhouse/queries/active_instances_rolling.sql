-- Purpose: daily, weekly and monthly active instances (DAU / WAU / MAU of the fleet).
-- Returns: one row: yesterday (instances active on the previous UTC day), last_7_days and last_30_days
--          (instances active on at least one day of the last 7 / 30 days, today included).
-- Reads:   active_instances_1d.
-- Weekly and monthly figures merge the daily uniq states (uniqMergeIf over the days), which counts each
-- instance once; adding daily counts up would count it once per active day.
SELECT
    uniqMergeIf(instances, day = toDate(now(), 'UTC') - 1) AS yesterday,
    uniqMergeIf(instances, day > toDate(now(), 'UTC') - 7) AS last_7_days,
    uniqMerge(instances) AS last_30_days
FROM active_instances_1d
WHERE day > toDate(now(), 'UTC') - 30

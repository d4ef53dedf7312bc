-- Purpose: how the fleet's libraries grow, day by day over the last 30 days (today included).
-- Returns: one row per day with at least one library snapshot: day, instances (that sent a snapshot
--          that day), total_songs and total_size_gb (sum over those instances of their last snapshot of
--          the day), avg_songs (per instance, rounded to 1 place), avg_growth_rate (songs added per day
--          as the instances report it, rounded to 2 places). Ordered by day.
-- Reads:   library_1d.
-- Fleet totals only count the instances that reported on each day: compare avg_songs across days, or
-- total_songs of days with similar instance counts.
SELECT
    day,
    count() AS instances,
    sum(songs) AS total_songs,
    round(sum(size_gb), 2) AS total_size_gb,
    round(avg(songs), 1) AS avg_songs,
    round(avg(growth), 2) AS avg_growth_rate
FROM
(
    SELECT
        day,
        instance_id,
        argMaxMerge(total_songs) AS songs,
        argMaxMerge(total_size_gb) AS size_gb,
        argMaxMerge(growth_rate) AS growth
    FROM library_1d
    WHERE day > toDate(now(), 'UTC') - 30
    GROUP BY day, instance_id
)
GROUP BY day
ORDER BY day

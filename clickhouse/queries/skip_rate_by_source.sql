-- Purpose: how often songs are skipped, per song source (youtube, local, other), over the last 30 days
--          (today included), and who skips them.
-- Returns: one row per song_source: song_source, plays, skips, skip_rate (skips / (plays + skips),
--          rounded to 4 places; 0 when there were neither), skips_user, skips_admin, skips_error.
--          Ordered by song_source.
-- Reads:   playback_1d.
-- The rate treats played and skipped as the two outcomes of a song reaching the player; queued and
-- removed songs never reached it and are left out.
SELECT
    song_source,
    plays,
    skips,
    if(plays + skips = 0, 0, round(skips / (plays + skips), 4)) AS skip_rate,
    skips_user,
    skips_admin,
    skips_error
FROM
(
    SELECT
        song_source,
        sumMerge(plays) AS plays,
        sumMerge(skips) AS skips,
        sumMerge(skips_user) AS skips_user,
        sumMerge(skips_admin) AS skips_admin,
        sumMerge(skips_error) AS skips_error
    FROM playback_1d
    WHERE day > toDate(now(), 'UTC') - 30
    GROUP BY song_source
)
ORDER BY song_source

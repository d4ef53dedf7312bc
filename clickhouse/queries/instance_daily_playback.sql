-- Purpose: one instance's playback day by day over the last 30 days (today included), e.g. to answer a
--          venue's support question or to check an export.
-- Returns: one row per day the instance played or skipped anything: day, songs_played, songs_skipped,
--          unique_songs. Ordered by day.
-- Reads:   daily_playback_stats (the seed's view, over playback_instance_1d).
-- Parameters: {instance_id} (string): the instance. Expand with expandQuery() from clickhouse/queries,
--          which quotes it through lib/sql; never paste a value into the text by hand.
SELECT
    day,
    songs_played,
    songs_skipped,
    unique_songs
FROM daily_playback_stats
WHERE instance_id = {instance_id} AND day > toDate(now(), 'UTC') - 30
ORDER BY day

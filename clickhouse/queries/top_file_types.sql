-- Purpose: which file types the fleet's libraries hold most (songs per file extension), from each
--          instance's latest library snapshot of the last 7 days.
-- Returns: up to 20 rows: file_type, songs (summed over instances), instances (instances whose library
--          has that type), ordered by songs descending, then file_type.
-- Reads:   library_file_types_1d.
-- Inner: each instance's count per type and day (argMaxMerge: the day's last snapshot); middle: the
-- latest day per instance and type; outer: the fleet total. Instances that sent no snapshot in the
-- last 7 days are not counted.
SELECT
    file_type,
    sum(latest_songs) AS songs,
    count() AS instances
FROM
(
    SELECT
        file_type,
        instance_id,
        argMax(day_songs, day) AS latest_songs
    FROM
    (
        SELECT
            day,
            file_type,
            instance_id,
            argMaxMerge(songs) AS day_songs
        FROM library_file_types_1d
        WHERE day > toDate(now(), 'UTC') - 7
        GROUP BY day, file_type, instance_id
    )
    GROUP BY file_type, instance_id
)
GROUP BY file_type
ORDER BY songs DESC, file_type
LIMIT 20

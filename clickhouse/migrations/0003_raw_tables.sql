-- Raw tables: one per telemetry family of schemas/telemetry/metrics-batch.v2.avsc, as processors write
-- them (one row per item of a batch). The seed's TimescaleDB tables translated to MergeTree.
--
-- Every raw table starts with the same columns, in this order:
--   time         when the item happened (the item's time, else the batch's timestamp), UTC
--   instance_id  the sending instance
--   tier         starter | party_host | venue at the time of the batch; retention differs per tier
--   app_version  SongMartyn version of the instance ('' when unknown)
--   platform     the instance's operating system: linux | darwin | windows ('' when unknown)
--   country      ISO 3166 alpha-2 derived from the sender's IP at ingest ('' when unknown); the IP itself
--                is never stored
--   batch_id     the batch the row came in; (batch_id, row_index) identifies a row, so a replayed batch
--                is detectable and duplicates are countable
--   row_index    position of the row within its batch (per family)
--   received_at  when ingest accepted the batch; received_at - time is the reporting delay
--
-- Absent values: the wire format has nulls, ClickHouse 18.16 Nullable columns cost a second column and
-- slow every read, so processors store '' or 0 and a has_* flag where 0 is a real value (wait time).
--
-- Partitioning: PARTITION BY (tier, toMonday(time)) on every raw table. Retention is "drop every part of
-- tier X older than N weeks", and ClickHouse 18.16 has no TTL, so the unit of deletion must be a whole
-- partition of one tier. The same `partition` value shows in system.parts on 18.16 and on 26.x, e.g.
-- ('starter','2026-01-05'), and both accept
--   ALTER TABLE events_playback DROP PARTITION ('starter', '2026-01-05')
--   ALTER TABLE events_playback DROP PARTITION ID '<partition_id from system.parts>'
-- (see clickhouse/README.md). Weekly partitions keep the part count low (3 tiers x 52 weeks a year)
-- while letting a 90-day retention be met within a week.
--
-- No statement below may be changed once applied (the runner refuses edited migrations); every
-- statement is IF NOT EXISTS because ClickHouse has no transactions and a failed run restarts at the top.

-- Quality metrics with the common columns (0001's table was renamed metrics_quality_v1 by 0002, see
-- there). The rollups read this table.
-- ORDER BY as 0001: the raw table serves drill-down into one metric of one instance over time;
-- fleet-wide views read the minute/hour/day rollups (0004).
CREATE TABLE IF NOT EXISTS metrics_quality (
    time DateTime('UTC'),
    instance_id String,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    batch_id String,
    row_index UInt32,
    received_at DateTime('UTC'),
    metric_name LowCardinality(String),
    value Float64,
    tags Nested(key String, value String)
) ENGINE = MergeTree()
PARTITION BY (tier, toMonday(time))
ORDER BY (metric_name, instance_id, time);

-- Playback events. Song title and artist are stored as song_hash (keyed HMAC of artist + title, so the
-- same song counts as one across instances without being readable); song_title and song_artist stay ''
-- unless the instance opted in to plain values. user_hash is a keyed HMAC of the user id. Local file
-- paths are never stored. wait_time_sec is 0 with has_wait = 0 when the instance did not measure it.
-- ORDER BY (event_type, time, instance_id): what reads raw events is "plays / skips in the last hour"
-- (one event type, a recent time range); longer ranges and per-instance days read the rollups.
CREATE TABLE IF NOT EXISTS events_playback (
    time DateTime('UTC'),
    instance_id String,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    batch_id String,
    row_index UInt32,
    received_at DateTime('UTC'),
    event_type LowCardinality(String),
    session_id String,
    song_hash String,
    song_title String,
    song_artist String,
    song_source LowCardinality(String),
    song_file_type LowCardinality(String),
    song_duration_sec UInt32,
    skip_reason LowCardinality(String),
    wait_time_sec Float64,
    has_wait UInt8,
    songs_played_session UInt32,
    songs_played_total UInt64,
    user_hash String
) ENGINE = MergeTree()
PARTITION BY (tier, toMonday(time))
ORDER BY (event_type, time, instance_id);

-- Session events: started, ended, user_joined, user_left, snapshot. start_time is 1970-01-01 00:00:00
-- and counters are 0 when the event did not carry them; users_by_role is the seed's map as two arrays.
-- user_hash / user_role are set on user_joined / user_left only.
-- ORDER BY (event_type, time, instance_id), for the same reason as events_playback.
CREATE TABLE IF NOT EXISTS events_session (
    time DateTime('UTC'),
    instance_id String,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    batch_id String,
    row_index UInt32,
    received_at DateTime('UTC'),
    session_id String,
    event_type LowCardinality(String),
    start_time DateTime('UTC'),
    duration_sec Float64,
    users_joined_total UInt32,
    users_peak_concurrent UInt32,
    users_by_role Nested(role String, users UInt32),
    room_count UInt32,
    user_hash String,
    user_role LowCardinality(String)
) ENGINE = MergeTree()
PARTITION BY (tier, toMonday(time))
ORDER BY (event_type, time, instance_id);

-- Library snapshots: the state of one instance's library at one moment (usually one per batch at most).
-- The seed's songs_by_source and file_types maps become Nested pairs of arrays.
-- ORDER BY (instance_id, time): snapshots are read as "the latest snapshot of each instance" and
-- "one instance's library over time".
CREATE TABLE IF NOT EXISTS snapshots_library (
    time DateTime('UTC'),
    instance_id String,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    batch_id String,
    row_index UInt32,
    received_at DateTime('UTC'),
    total_songs UInt64,
    total_size_gb Float64,
    growth_rate Float64,
    avg_song_duration_sec Float64,
    songs_by_source Nested(source String, songs UInt64),
    file_types Nested(file_type String, songs UInt64)
) ENGINE = MergeTree()
PARTITION BY (tier, toMonday(time))
ORDER BY (instance_id, time);

-- What an instance runs on, sent at its start and when it changes.
-- ORDER BY (instance_id, time): read as "the latest environment of each instance".
CREATE TABLE IF NOT EXISTS environment (
    time DateTime('UTC'),
    instance_id String,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    batch_id String,
    row_index UInt32,
    received_at DateTime('UTC'),
    version String,
    os_platform LowCardinality(String),
    os_version String,
    go_version String,
    mpv_version String,
    cpu_cores UInt16,
    ram_total_gb Float64
) ENGINE = MergeTree()
PARTITION BY (tier, toMonday(time))
ORDER BY (instance_id, time);

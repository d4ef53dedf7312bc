-- Rollups: what dashboards and analysts read for any range longer than a few hours. Each is a target
-- table filled by materialized views over the raw tables of 0003, at insert time, so a rollup always
-- agrees with the raw rows it was made from (as long as raw rows are only ever inserted).
--
-- Rules that hold for every rollup:
-- * Materialized views are CREATE MATERIALIZED VIEW … TO <table>: the data lives in a table of its own
--   name that can be read, altered and dropped by partition like any other; implicit .inner tables
--   cannot be managed that way.
-- * Each level (minute, hour, day) is fed from the raw table directly rather than from the level
--   below: no chain of views to break, and every level can be rebuilt from raw alone.
-- * Targets are AggregatingMergeTree and every measure is an aggregate state: read it with the
--   matching -Merge function and GROUP BY (countMerge, sumMerge, uniqMerge, quantilesMerge(0.5, 0.95,
--   0.99), …). Rows of one key are merged in the background at an unknown time, so a query must always
--   aggregate; selecting the state columns without -Merge is wrong. Plain (non-state) measure columns
--   are not used because AggregatingMergeTree keeps an arbitrary one of them on merge, and ClickHouse
--   18.16 has no SimpleAggregateFunction.
-- * Counts of one kind of event are sumState(toUInt64(<condition>)) rather than countIfState, so the
--   column type is the plain AggregateFunction(sum, UInt64) on both ClickHouse 18.16 and 26.x.
-- * Key columns computed in a view are wrapped in toLowCardinality(): ClickHouse 18.16 does not convert
--   String to LowCardinality(String) when a view writes into its target, and refuses the insert.
-- * PARTITION BY (tier, toStartOfMonth(<bucket>)): rollups are kept longer than raw rows (months to
--   years), still per tier, and retention drops a whole month of one tier, e.g.
--   ALTER TABLE quality_1h DROP PARTITION ('starter', '2026-01-01').
-- * Dropping raw partitions (retention) never touches the rollups.

-- Quality metrics per minute / hour / day and per (metric_name, tier, app_version, platform,
-- operation tag, error type tag). operation is the `operation` tag ('' when absent, which is the case
-- for every metric but api_response_times_ms). error_type is the `type` tag of error_count_by_type
-- only, so that a `type` tag on some other metric cannot multiply the rollup's rows.
-- Measures: samples (count), value_sum / value_min / value_max (avg = sum / samples), value_quantiles
-- (p50, p95, p99) and instances (distinct reporting instances, for "errors per instance-hour").
-- Quantiles: quantilesState is exact up to 8192 values per state and a uniform sample beyond; the
-- t-digest variant was rejected because its results differ between 18.16 and 26.x on the same data.
-- ORDER BY starts with metric_name: every quality query names the metric it wants.
CREATE TABLE IF NOT EXISTS quality_1m (
    bucket DateTime('UTC'),
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    metric_name LowCardinality(String),
    operation LowCardinality(String),
    error_type LowCardinality(String),
    samples AggregateFunction(count),
    value_sum AggregateFunction(sum, Float64),
    value_min AggregateFunction(min, Float64),
    value_max AggregateFunction(max, Float64),
    value_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    instances AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(bucket))
ORDER BY (metric_name, bucket, tier, app_version, platform, operation, error_type);

CREATE TABLE IF NOT EXISTS quality_1h (
    bucket DateTime('UTC'),
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    metric_name LowCardinality(String),
    operation LowCardinality(String),
    error_type LowCardinality(String),
    samples AggregateFunction(count),
    value_sum AggregateFunction(sum, Float64),
    value_min AggregateFunction(min, Float64),
    value_max AggregateFunction(max, Float64),
    value_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    instances AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(bucket))
ORDER BY (metric_name, bucket, tier, app_version, platform, operation, error_type);

CREATE TABLE IF NOT EXISTS quality_1d (
    day Date,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    metric_name LowCardinality(String),
    operation LowCardinality(String),
    error_type LowCardinality(String),
    samples AggregateFunction(count),
    value_sum AggregateFunction(sum, Float64),
    value_min AggregateFunction(min, Float64),
    value_max AggregateFunction(max, Float64),
    value_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    instances AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (metric_name, day, tier, app_version, platform, operation, error_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_quality_1m TO quality_1m AS
SELECT
    toStartOfMinute(time) AS bucket,
    tier,
    app_version,
    platform,
    metric_name,
    toLowCardinality(tags.value[indexOf(tags.key, 'operation')]) AS operation,
    toLowCardinality(if(metric_name = 'error_count_by_type', tags.value[indexOf(tags.key, 'type')], '')) AS error_type,
    countState() AS samples,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    quantilesState(0.5, 0.95, 0.99)(value) AS value_quantiles,
    uniqState(instance_id) AS instances
FROM metrics_quality
GROUP BY bucket, tier, app_version, platform, metric_name, operation, error_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_quality_1h TO quality_1h AS
SELECT
    toStartOfHour(time) AS bucket,
    tier,
    app_version,
    platform,
    metric_name,
    toLowCardinality(tags.value[indexOf(tags.key, 'operation')]) AS operation,
    toLowCardinality(if(metric_name = 'error_count_by_type', tags.value[indexOf(tags.key, 'type')], '')) AS error_type,
    countState() AS samples,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    quantilesState(0.5, 0.95, 0.99)(value) AS value_quantiles,
    uniqState(instance_id) AS instances
FROM metrics_quality
GROUP BY bucket, tier, app_version, platform, metric_name, operation, error_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_quality_1d TO quality_1d AS
SELECT
    toDate(time) AS day,
    tier,
    app_version,
    platform,
    metric_name,
    toLowCardinality(tags.value[indexOf(tags.key, 'operation')]) AS operation,
    toLowCardinality(if(metric_name = 'error_count_by_type', tags.value[indexOf(tags.key, 'type')], '')) AS error_type,
    countState() AS samples,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    quantilesState(0.5, 0.95, 0.99)(value) AS value_quantiles,
    uniqState(instance_id) AS instances
FROM metrics_quality
GROUP BY day, tier, app_version, platform, metric_name, operation, error_type;

-- Playback per hour / day and per (tier, app_version, platform, song_source, song_file_type).
-- plays, skips (all reasons) and skips_user / skips_admin / skips_error, queued, removed: event counts.
-- unique_songs: distinct song_hash of played events whose song is known (uniqIfMerge to read it).
-- wait_sum / waits: wait time of played events that measured it (avg wait = wait_sum / waits).
-- ORDER BY starts with the bucket: playback questions are "over this range, by source / file type".
CREATE TABLE IF NOT EXISTS playback_1h (
    bucket DateTime('UTC'),
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    song_source LowCardinality(String),
    song_file_type LowCardinality(String),
    plays AggregateFunction(sum, UInt64),
    skips AggregateFunction(sum, UInt64),
    skips_user AggregateFunction(sum, UInt64),
    skips_admin AggregateFunction(sum, UInt64),
    skips_error AggregateFunction(sum, UInt64),
    queued AggregateFunction(sum, UInt64),
    removed AggregateFunction(sum, UInt64),
    unique_songs AggregateFunction(uniqIf, String, UInt8),
    wait_sum AggregateFunction(sum, Float64),
    waits AggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(bucket))
ORDER BY (bucket, tier, app_version, platform, song_source, song_file_type);

CREATE TABLE IF NOT EXISTS playback_1d (
    day Date,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    song_source LowCardinality(String),
    song_file_type LowCardinality(String),
    plays AggregateFunction(sum, UInt64),
    skips AggregateFunction(sum, UInt64),
    skips_user AggregateFunction(sum, UInt64),
    skips_admin AggregateFunction(sum, UInt64),
    skips_error AggregateFunction(sum, UInt64),
    queued AggregateFunction(sum, UInt64),
    removed AggregateFunction(sum, UInt64),
    unique_songs AggregateFunction(uniqIf, String, UInt8),
    wait_sum AggregateFunction(sum, Float64),
    waits AggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, tier, app_version, platform, song_source, song_file_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_playback_1h TO playback_1h AS
SELECT
    toStartOfHour(time) AS bucket,
    tier,
    app_version,
    platform,
    song_source,
    song_file_type,
    sumState(toUInt64(event_type = 'played')) AS plays,
    sumState(toUInt64(event_type = 'skipped')) AS skips,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'user')) AS skips_user,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'admin')) AS skips_admin,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'error')) AS skips_error,
    sumState(toUInt64(event_type = 'queued')) AS queued,
    sumState(toUInt64(event_type = 'removed')) AS removed,
    uniqIfState(song_hash, event_type = 'played' AND song_hash != '') AS unique_songs,
    sumState(if(event_type = 'played' AND has_wait = 1, wait_time_sec, 0)) AS wait_sum,
    sumState(toUInt64(event_type = 'played' AND has_wait = 1)) AS waits
FROM events_playback
GROUP BY bucket, tier, app_version, platform, song_source, song_file_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_playback_1d TO playback_1d AS
SELECT
    toDate(time) AS day,
    tier,
    app_version,
    platform,
    song_source,
    song_file_type,
    sumState(toUInt64(event_type = 'played')) AS plays,
    sumState(toUInt64(event_type = 'skipped')) AS skips,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'user')) AS skips_user,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'admin')) AS skips_admin,
    sumState(toUInt64(event_type = 'skipped' AND skip_reason = 'error')) AS skips_error,
    sumState(toUInt64(event_type = 'queued')) AS queued,
    sumState(toUInt64(event_type = 'removed')) AS removed,
    uniqIfState(song_hash, event_type = 'played' AND song_hash != '') AS unique_songs,
    sumState(if(event_type = 'played' AND has_wait = 1, wait_time_sec, 0)) AS wait_sum,
    sumState(toUInt64(event_type = 'played' AND has_wait = 1)) AS waits
FROM events_playback
GROUP BY day, tier, app_version, platform, song_source, song_file_type;

-- Playback per instance and day: the seed's daily_playback_stats is per instance, which the fleet-wide
-- playback_1d cannot answer. tier is in the key only because the partition needs it.
CREATE TABLE IF NOT EXISTS playback_instance_1d (
    day Date,
    instance_id String,
    tier LowCardinality(String),
    plays AggregateFunction(sum, UInt64),
    skips AggregateFunction(sum, UInt64),
    unique_songs AggregateFunction(uniqIf, String, UInt8)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, instance_id, tier);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_playback_instance_1d TO playback_instance_1d AS
SELECT
    toDate(time) AS day,
    instance_id,
    tier,
    sumState(toUInt64(event_type = 'played')) AS plays,
    sumState(toUInt64(event_type = 'skipped')) AS skips,
    uniqIfState(song_hash, event_type = 'played' AND song_hash != '') AS unique_songs
FROM events_playback
GROUP BY day, instance_id, tier;

-- The seed's daily_playback_stats, same columns, as a view over the per-instance rollup. It groups
-- without tier, so an instance that changed tier during a day still gets one row for that day.
CREATE VIEW IF NOT EXISTS daily_playback_stats AS
SELECT
    day,
    instance_id,
    sumMerge(plays) AS songs_played,
    sumMerge(skips) AS songs_skipped,
    uniqIfMerge(unique_songs) AS unique_songs
FROM playback_instance_1d
GROUP BY day, instance_id;

-- Sessions per hour / day and per (tier, app_version, platform).
-- started / ended: sessions started and ended in the bucket; ended_duration_sum: total duration of the
-- sessions that ended (avg = ended_duration_sum / ended); peak_users: most users at once in any session
-- event of the bucket; users_joined: user_joined events; sessions: distinct sessions with any event.
CREATE TABLE IF NOT EXISTS sessions_1h (
    bucket DateTime('UTC'),
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    started AggregateFunction(sum, UInt64),
    ended AggregateFunction(sum, UInt64),
    ended_duration_sum AggregateFunction(sum, Float64),
    peak_users AggregateFunction(max, UInt32),
    users_joined AggregateFunction(sum, UInt64),
    sessions AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(bucket))
ORDER BY (bucket, tier, app_version, platform);

CREATE TABLE IF NOT EXISTS sessions_1d (
    day Date,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    started AggregateFunction(sum, UInt64),
    ended AggregateFunction(sum, UInt64),
    ended_duration_sum AggregateFunction(sum, Float64),
    peak_users AggregateFunction(max, UInt32),
    users_joined AggregateFunction(sum, UInt64),
    sessions AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, tier, app_version, platform);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_sessions_1h TO sessions_1h AS
SELECT
    toStartOfHour(time) AS bucket,
    tier,
    app_version,
    platform,
    sumState(toUInt64(event_type = 'started')) AS started,
    sumState(toUInt64(event_type = 'ended')) AS ended,
    sumState(if(event_type = 'ended', duration_sec, 0)) AS ended_duration_sum,
    maxState(users_peak_concurrent) AS peak_users,
    sumState(toUInt64(event_type = 'user_joined')) AS users_joined,
    uniqState(session_id) AS sessions
FROM events_session
GROUP BY bucket, tier, app_version, platform;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_sessions_1d TO sessions_1d AS
SELECT
    toDate(time) AS day,
    tier,
    app_version,
    platform,
    sumState(toUInt64(event_type = 'started')) AS started,
    sumState(toUInt64(event_type = 'ended')) AS ended,
    sumState(if(event_type = 'ended', duration_sec, 0)) AS ended_duration_sum,
    maxState(users_peak_concurrent) AS peak_users,
    sumState(toUInt64(event_type = 'user_joined')) AS users_joined,
    uniqState(session_id) AS sessions
FROM events_session
GROUP BY day, tier, app_version, platform;

-- Active instances: distinct instances that sent anything on a day, per (tier, app_version, platform,
-- country). One view per raw table writes into the same target; uniq states of one key merge, so an
-- instance that sent several families counts once. Weekly and monthly actives are uniqMerge over 7 or
-- 30 days of states: never sum daily counts (an instance active on two days would count twice).
-- uniq is exact up to tens of thousands of distinct values per state and a close estimate beyond.
CREATE TABLE IF NOT EXISTS active_instances_1d (
    day Date,
    tier LowCardinality(String),
    app_version LowCardinality(String),
    platform LowCardinality(String),
    country LowCardinality(String),
    instances AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, tier, app_version, platform, country);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_active_instances_1d_quality TO active_instances_1d AS
SELECT toDate(time) AS day, tier, app_version, platform, country, uniqState(instance_id) AS instances
FROM metrics_quality
GROUP BY day, tier, app_version, platform, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_active_instances_1d_playback TO active_instances_1d AS
SELECT toDate(time) AS day, tier, app_version, platform, country, uniqState(instance_id) AS instances
FROM events_playback
GROUP BY day, tier, app_version, platform, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_active_instances_1d_session TO active_instances_1d AS
SELECT toDate(time) AS day, tier, app_version, platform, country, uniqState(instance_id) AS instances
FROM events_session
GROUP BY day, tier, app_version, platform, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_active_instances_1d_library TO active_instances_1d AS
SELECT toDate(time) AS day, tier, app_version, platform, country, uniqState(instance_id) AS instances
FROM snapshots_library
GROUP BY day, tier, app_version, platform, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_active_instances_1d_environment TO active_instances_1d AS
SELECT toDate(time) AS day, tier, app_version, platform, country, uniqState(instance_id) AS instances
FROM environment
GROUP BY day, tier, app_version, platform, country;

-- Library per instance and day: the values of the day's last snapshot (argMax by time), so fleet
-- totals sum each instance once per day however often it reported. Fleet-wide numbers must first take
-- argMaxMerge per (day, instance_id) and then sum, because an instance may have rows in two tiers.
CREATE TABLE IF NOT EXISTS library_1d (
    day Date,
    instance_id String,
    tier LowCardinality(String),
    snapshots AggregateFunction(count),
    total_songs AggregateFunction(argMax, UInt64, DateTime('UTC')),
    total_size_gb AggregateFunction(argMax, Float64, DateTime('UTC')),
    growth_rate AggregateFunction(argMax, Float64, DateTime('UTC'))
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, instance_id, tier);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_library_1d TO library_1d AS
SELECT
    toDate(time) AS day,
    instance_id,
    tier,
    countState() AS snapshots,
    argMaxState(total_songs, time) AS total_songs,
    argMaxState(total_size_gb, time) AS total_size_gb,
    argMaxState(growth_rate, time) AS growth_rate
FROM snapshots_library
GROUP BY day, instance_id, tier;

-- Library songs per file type, per instance and day: each file type's count in the latest snapshot
-- that listed it that day. A type that vanished from a library between two snapshots of one day keeps
-- its earlier count for that day (rare; the next day is right).
CREATE TABLE IF NOT EXISTS library_file_types_1d (
    day Date,
    file_type LowCardinality(String),
    instance_id String,
    tier LowCardinality(String),
    songs AggregateFunction(argMax, UInt64, DateTime('UTC'))
) ENGINE = AggregatingMergeTree()
PARTITION BY (tier, toStartOfMonth(day))
ORDER BY (day, file_type, instance_id, tier);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_library_file_types_1d TO library_file_types_1d AS
SELECT
    toDate(time) AS day,
    toLowCardinality(file_types.file_type) AS file_type,
    instance_id,
    tier,
    argMaxState(file_types.songs, time) AS songs
FROM snapshots_library
ARRAY JOIN file_types
GROUP BY day, file_type, instance_id, tier;

import { type BoardSpec, FLEET_FILTER, FLEET_VARIABLES, intervalBucket } from "./spec.ts";

const HOURLY = `FROM playback_1h WHERE $__timeFilter(bucket) AND ${FLEET_FILTER}`;
const DAILY = `FROM playback_1d WHERE $__dateFilter(day) AND ${FLEET_FILTER}`;

/** Playback: what is sung, skipped and waited for. */
export const playback: BoardSpec = {
  uid: "smstats-playback",
  title: "SongMartyn · Playback",
  description: "Songs played over time, skips and their reasons, file types and sources, queue wait.",
  tags: ["songmartyn", "playback"],
  from: "now-30d",
  variables: FLEET_VARIABLES,
  panels: [
    {
      title: "Plays in the last hour",
      description: "Songs played fleet-wide in the last hour (raw events: the range is one hour).",
      kind: "stat",
      datasource: "clickhouse",
      width: 6,
      timeFrom: "1h",
      queries: [
        {
          format: "table",
          columns: ["plays"],
          sql: `SELECT count() AS plays FROM events_playback
WHERE event_type = 'played' AND $__timeFilter(time) AND ${FLEET_FILTER}`,
        },
      ],
    },
    {
      title: "Plays, skips, unique songs",
      description: "Over the range; unique songs are distinct keyed song hashes (merged states).",
      kind: "stat",
      datasource: "clickhouse",
      width: 18,
      queries: [
        {
          format: "table",
          columns: ["plays", "skips", "skip_rate", "unique_songs"],
          sql: `SELECT plays, skips, round(skips / greatest(plays + skips, 1), 4) AS skip_rate, unique_songs
FROM (
    SELECT sumMerge(plays) AS plays, sumMerge(skips) AS skips, uniqIfMerge(unique_songs) AS unique_songs
    ${DAILY}
)`,
        },
      ],
    },
    {
      title: "Songs played",
      description: "Plays per interval, by source.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 24,
      minInterval: "1h",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "song_source", "plays"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, song_source, sumMerge(plays) AS plays
${HOURLY}
GROUP BY time, song_source ORDER BY time, song_source`,
        },
      ],
    },
    {
      title: "Skips by reason",
      description: "Skips per day by who skipped: the singer (user), an admin, or an error.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "user", "admin", "error"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, sumMerge(skips_user) AS user, sumMerge(skips_admin) AS admin,
    sumMerge(skips_error) AS error
${DAILY}
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Skip rate by source",
      description: "Skips / (plays + skips) per song source over the range.",
      kind: "table",
      datasource: "clickhouse",
      width: 12,
      queries: [
        {
          format: "table",
          columns: ["song_source", "plays", "skips", "skip_rate"],
          sql: `SELECT song_source, plays, skips, round(skips / greatest(plays + skips, 1), 4) AS skip_rate
FROM (
    SELECT song_source, sumMerge(plays) AS plays, sumMerge(skips) AS skips
    ${DAILY}
    GROUP BY song_source
)
ORDER BY plays DESC, song_source`,
        },
      ],
    },
    {
      title: "File types played",
      description: "Plays per file type (extension token; never a file name).",
      kind: "piechart",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["song_file_type", "plays"],
          sql: `SELECT song_file_type, sumMerge(plays) AS plays
${DAILY}
GROUP BY song_file_type ORDER BY plays DESC, song_file_type`,
        },
      ],
    },
    {
      title: "Sources",
      description: "Plays per song source.",
      kind: "piechart",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["song_source", "plays"],
          sql: `SELECT song_source, sumMerge(plays) AS plays
${DAILY}
GROUP BY song_source ORDER BY plays DESC, song_source`,
        },
      ],
    },
    {
      title: "Queue wait",
      description: "Mean seconds from queueing to playing, of plays that measured it.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 8,
      unit: "s",
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "mean_wait_sec"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, round(sumMerge(wait_sum) / greatest(sumMerge(waits), 1), 1) AS mean_wait_sec
${HOURLY}
GROUP BY time HAVING sumMerge(waits) > 0 ORDER BY time`,
        },
      ],
    },
  ],
};

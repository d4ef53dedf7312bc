import { type BoardSpec, FLEET_VARIABLES, whereVariable } from "./spec.ts";

// library_1d and library_file_types_1d are keyed by instance and tier only: the version and platform
// variables do not apply to them, the tier one does.
const TIER = whereVariable("tier", "tier");

// Each instance's value from its day's last snapshot, merged per (day, instance) before summing. Each
// panel merges only the state it shows (bench:grafana, 5,000 instances × 30 days: merging all three
// for every panel tripled the work).
const perInstanceDay = (state: "total_songs" | "total_size_gb" | "growth_rate", as: string) =>
  `SELECT day, instance_id, argMaxMerge(${state}) AS ${as}
    FROM library_1d WHERE $__dateFilter(day) AND ${TIER}
    GROUP BY day, instance_id`;

/** Library: how big the fleet's song libraries are and how they grow. */
export const library: BoardSpec = {
  uid: "smstats-library",
  title: "SongMartyn · Library",
  description: "Library size and growth; songs by source and file type.",
  tags: ["songmartyn", "library"],
  from: "now-30d",
  variables: FLEET_VARIABLES.filter((v) => v.name === "tier"),
  panels: [
    {
      title: "Songs in the fleet's libraries",
      description: "Sum over reporting instances of each one's latest song count that day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "total_songs", "instances"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, sum(songs) AS total_songs, count() AS instances
FROM (${perInstanceDay("total_songs", "songs")})
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Library size on disk",
      description: "Sum and mean of the reporting instances' library sizes per day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      unit: "decgbytes",
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "total_gb", "mean_gb"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, round(sum(size_gb), 1) AS total_gb, round(avg(size_gb), 2) AS mean_gb
FROM (${perInstanceDay("total_size_gb", "size_gb")})
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Growth",
      description: "Songs added per day as the instances compute it: fleet sum and mean per instance.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "songs_per_day", "mean_per_instance"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, round(sum(growth), 1) AS songs_per_day,
    round(avg(growth), 2) AS mean_per_instance
FROM (${perInstanceDay("growth_rate", "growth")})
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Songs by file type",
      description: "Each instance's latest count per file type in the range, summed over the fleet.",
      kind: "barchart",
      datasource: "clickhouse",
      width: 12,
      queries: [
        {
          format: "table",
          columns: ["file_type", "songs", "instances"],
          // One merge over the whole range: each day's state holds its last snapshot's (count, time),
          // so merging them keeps the latest snapshot in the range, as a merge per day and then argMax
          // by day would, without the 30× larger (day, file type, instance) grouping in between.
          sql: `SELECT file_type, sum(latest_songs) AS songs, count() AS instances
FROM (
    SELECT file_type, instance_id, argMaxMerge(songs) AS latest_songs
    FROM library_file_types_1d WHERE $__dateFilter(day) AND ${TIER}
    GROUP BY file_type, instance_id
)
GROUP BY file_type ORDER BY songs DESC, file_type LIMIT 20`,
        },
      ],
    },
    {
      title: "Songs by source, last 24 hours",
      description:
        "Each instance's latest snapshot of the last 24 hours, songs per source summed (raw snapshots; no rollup keeps sources).",
      kind: "piechart",
      datasource: "clickhouse",
      width: 12,
      timeFrom: "24h",
      queries: [
        {
          format: "table",
          columns: ["source", "songs"],
          sql: `SELECT source, sum(source_songs) AS songs
FROM (
    SELECT instance_id, argMax(songs_by_source.source, time) AS sources, argMax(songs_by_source.songs, time) AS counts
    FROM snapshots_library WHERE $__timeFilter(time) AND ${TIER}
    GROUP BY instance_id
)
ARRAY JOIN sources AS source, counts AS source_songs
GROUP BY source ORDER BY songs DESC, source`,
        },
      ],
    },
  ],
};

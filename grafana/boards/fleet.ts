import { type BoardSpec, FLEET_FILTER, FLEET_VARIABLES } from "./spec.ts";

// Active instances come from active_instances_1d (uniq states per day): weekly and monthly figures merge
// the day states, never add daily counts.
const ACTIVE = `FROM active_instances_1d WHERE $__dateFilter(day) AND ${FLEET_FILTER}`;

/** Fleet: who runs SongMartyn, on what, where. */
export const fleet: BoardSpec = {
  uid: "smstats-fleet",
  title: "SongMartyn · Fleet",
  description: "Active instances by day, week and month; versions, platforms, tiers and countries.",
  tags: ["songmartyn", "fleet"],
  from: "now-30d",
  variables: FLEET_VARIABLES,
  panels: [
    {
      title: "Active instances: today, 7 days, 30 days",
      description: "Distinct instances that sent anything (merged daily uniq states, not sums of days).",
      kind: "stat",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["daily", "weekly", "monthly"],
          sql: `SELECT
    uniqMergeIf(instances, day = toDate($__toTime)) AS daily,
    uniqMergeIf(instances, day > toDate($__toTime) - 7) AS weekly,
    uniqMergeIf(instances, day > toDate($__toTime) - 30) AS monthly
FROM active_instances_1d
WHERE day > toDate($__toTime) - 30 AND day <= toDate($__toTime) AND ${FLEET_FILTER}`,
        },
      ],
    },
    {
      title: "Daily active instances",
      description: "Distinct instances per UTC day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 16,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "active"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, uniqMerge(instances) AS active
${ACTIVE}
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Daily active instances by version",
      description: "Adoption of each SongMartyn version, per day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 24,
      minInterval: "1d",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "app_version", "active"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, app_version, uniqMerge(instances) AS active
${ACTIVE}
GROUP BY day, app_version ORDER BY day, app_version`,
        },
      ],
    },
    {
      title: "Versions",
      description: "Instances per version over the range, with their share of the fleet.",
      kind: "table",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["app_version", "instances"],
          sql: `SELECT app_version, uniqMerge(instances) AS instances
${ACTIVE}
GROUP BY app_version ORDER BY instances DESC, app_version`,
        },
      ],
    },
    {
      title: "Platforms",
      description: "Instances per operating system over the range.",
      kind: "piechart",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["platform", "instances"],
          sql: `SELECT platform, uniqMerge(instances) AS instances
${ACTIVE}
GROUP BY platform ORDER BY instances DESC, platform`,
        },
      ],
    },
    {
      title: "Tiers",
      description: "Instances per licence tier over the range.",
      kind: "piechart",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["tier", "instances"],
          sql: `SELECT tier, uniqMerge(instances) AS instances
${ACTIVE}
GROUP BY tier ORDER BY instances DESC, tier`,
        },
      ],
    },
    {
      title: "Geographic distribution",
      description: "Instances per country (from the sender's IP at ingest; the IP itself is never kept).",
      kind: "geomap",
      datasource: "clickhouse",
      width: 16,
      queries: [
        {
          format: "table",
          columns: ["country", "instances"],
          sql: `SELECT country, uniqMerge(instances) AS instances
${ACTIVE} AND country != ''
GROUP BY country ORDER BY instances DESC, country`,
        },
      ],
    },
    {
      title: "Countries",
      description: "Top countries by instances; '' is an address no country was found for.",
      kind: "table",
      datasource: "clickhouse",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["country", "instances"],
          sql: `SELECT country, uniqMerge(instances) AS instances
${ACTIVE}
GROUP BY country ORDER BY instances DESC, country LIMIT 50`,
        },
      ],
    },
  ],
};

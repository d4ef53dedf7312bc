import { histogramQuantile, histogramSql } from "./histogram.ts";
import { type BoardSpec, FLEET_FILTER, FLEET_VARIABLES, intervalBucket } from "./spec.ts";

// Every panel reads quality_1h (hourly states, min interval 1h) except the last-hour panel (quality_1m)
// and the quantile panels, which read the hourly value histograms of quality_bins_1h (migration 0006,
// histogram.ts: quantiles within 1.1 % of the exact ones; merging quality_1h's quantilesState, which keep
// up to 8,192 samples each, took 2.2–2.7 s per panel at 5,000 instances).
const HOURLY = (metric: string) =>
  `FROM quality_1h WHERE metric_name = '${metric}' AND $__timeFilter(bucket) AND ${FLEET_FILTER}`;
const HOURLY_BINS = (metric: string) =>
  `FROM quality_bins_1h WHERE metric_name = '${metric}' AND $__timeFilter(bucket) AND ${FLEET_FILTER}`;

/** Quality: errors, mpv, API latency, resources, websockets. */
export const quality: BoardSpec = {
  uid: "smstats-quality",
  title: "SongMartyn · Quality",
  description:
    "Error rate by version and type, mpv health and restarts, API latency, memory and CPU, websockets.",
  tags: ["songmartyn", "quality"],
  from: "now-7d",
  variables: FLEET_VARIABLES,
  panels: [
    {
      title: "Errors per instance by version",
      description: "Errors reported (error_count_by_type) per reporting instance and interval, by version.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 16,
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "app_version", "errors_per_instance"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, app_version,
    round(sumMerge(value_sum) / greatest(uniqMerge(instances), 1), 3) AS errors_per_instance
${HOURLY("error_count_by_type")}
GROUP BY time, app_version ORDER BY time, app_version`,
        },
      ],
    },
    {
      title: "Errors by version, last hour",
      description: "Errors and reporting instances per version in the last hour (minute rollup).",
      kind: "table",
      datasource: "clickhouse",
      width: 8,
      timeFrom: "1h",
      queries: [
        {
          format: "table",
          columns: ["app_version", "errors", "instances"],
          sql: `SELECT app_version, sumMerge(value_sum) AS errors, uniqMerge(instances) AS instances
FROM quality_1m WHERE metric_name = 'error_count_by_type' AND $__timeFilter(bucket) AND ${FLEET_FILTER}
GROUP BY app_version ORDER BY errors DESC, app_version`,
        },
      ],
    },
    {
      title: "Errors by type",
      description: "Errors reported per type (the `type` tag of error_count_by_type).",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1h",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "error_type", "errors"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, error_type, sumMerge(value_sum) AS errors
${HOURLY("error_count_by_type")}
GROUP BY time, error_type ORDER BY time, error_type`,
        },
      ],
    },
    {
      title: "mpv health",
      description: "Mean and worst mpv_health_status (0 ok, 1 degraded, 2 dead).",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "mean_status", "worst_status"],
          sql: `SELECT ${intervalBucket("bucket")} AS time,
    round(sumMerge(value_sum) / countMerge(samples), 3) AS mean_status, maxMerge(value_max) AS worst_status
${HOURLY("mpv_health_status")}
GROUP BY time ORDER BY time`,
        },
      ],
    },
    {
      title: "mpv restarts by version",
      description: "mpv restarts reported (mpv_restart_count), by version.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1h",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "app_version", "restarts"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, app_version, sumMerge(value_sum) AS restarts
${HOURLY("mpv_restart_count")}
GROUP BY time, app_version ORDER BY time, app_version`,
        },
      ],
    },
    {
      title: "API latency by operation",
      description:
        "p50 / p95 / p99 of api_response_times_ms per operation over the range (from hourly histograms: within 1.1 %).",
      kind: "table",
      datasource: "clickhouse",
      width: 12,
      unit: "ms",
      queries: [
        {
          format: "table",
          columns: ["operation", "samples", "p50", "p95", "p99"],
          sql: `SELECT operation, samples, round(${histogramQuantile(0.5)}, 1) AS p50,
    round(${histogramQuantile(0.95)}, 1) AS p95, round(${histogramQuantile(0.99)}, 1) AS p99
FROM (${histogramSql({ operation: "operation" }, HOURLY_BINS("api_response_times_ms"))})
ORDER BY p95 DESC, operation`,
        },
      ],
    },
    {
      title: "API latency p95 by operation",
      description: "p95 of api_response_times_ms per operation and interval.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      unit: "ms",
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "operation", "p95"],
          sql: `SELECT time, operation, round(${histogramQuantile(0.95)}, 1) AS p95
FROM (${histogramSql({ time: intervalBucket("bucket"), operation: "operation" }, HOURLY_BINS("api_response_times_ms"))})
ORDER BY time, operation`,
        },
      ],
    },
    {
      title: "Memory",
      description: "Mean memory_usage_mb of reporting instances, by platform.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      unit: "decmbytes",
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "platform", "mean_mb"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, platform,
    round(sumMerge(value_sum) / countMerge(samples), 1) AS mean_mb
${HOURLY("memory_usage_mb")}
GROUP BY time, platform ORDER BY time, platform`,
        },
      ],
    },
    {
      title: "CPU",
      description: "Mean and p95 cpu_usage_percent of reporting instances.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      unit: "percent",
      minInterval: "1h",
      queries: [
        {
          format: "time_series",
          columns: ["time", "mean_percent", "p95_percent"],
          sql: `SELECT time, round(value_sum / samples, 1) AS mean_percent,
    round(${histogramQuantile(0.95)}, 1) AS p95_percent
FROM (${histogramSql({ time: intervalBucket("bucket") }, HOURLY_BINS("cpu_usage_percent"))})
ORDER BY time`,
        },
      ],
    },
    {
      title: "WebSocket errors",
      description: "websocket_errors reported per interval, by version.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1h",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "app_version", "errors"],
          sql: `SELECT ${intervalBucket("bucket")} AS time, app_version, sumMerge(value_sum) AS errors
${HOURLY("websocket_errors")}
GROUP BY time, app_version ORDER BY time, app_version`,
        },
      ],
    },
  ],
};

import type { BoardSpec } from "./spec.ts";

/**
 * Pipeline health from Prometheus: the service's own metrics (every process's /metrics); JetStream
 * consumer state comes from the processors' gauges, which read it from JetStream at scrape time.
 */
export const pipeline: BoardSpec = {
  uid: "smstats-pipeline",
  title: "SongMartyn · Pipeline health",
  description:
    "Ingest rate and errors by code, JetStream pending, dead letters, insert latency, sequence gaps.",
  tags: ["songmartyn", "pipeline"],
  from: "now-6h",
  variables: [],
  panels: [
    {
      title: "Ingest rate by outcome",
      description: "Telemetry items per second by outcome (accepted, rejected, no_consent, duplicate).",
      kind: "timeseries",
      datasource: "prometheus",
      unit: "ops",
      queries: [
        {
          expr: "sum by (outcome) (rate(smstats_ingest_items_total[$__rate_interval]))",
          legend: "{{outcome}}",
          metrics: ["smstats_ingest_items_total"],
        },
      ],
    },
    {
      title: "Errors by code",
      description: "Error answers per second by stable error code, and refused instance requests.",
      kind: "timeseries",
      datasource: "prometheus",
      unit: "reqps",
      queries: [
        {
          expr: "sum by (code) (rate(smstats_http_errors_total[$__rate_interval]))",
          legend: "{{code}}",
          metrics: ["smstats_http_errors_total"],
        },
        {
          refId: "B",
          expr: "sum by (code) (rate(smstats_auth_refused_total[$__rate_interval]))",
          legend: "refused {{code}}",
          metrics: ["smstats_auth_refused_total"],
        },
      ],
    },
    {
      title: "JetStream pending",
      description: "Messages the processors' consumer has not taken yet, and taken but unacknowledged.",
      kind: "timeseries",
      datasource: "prometheus",
      queries: [
        {
          expr: "max by (stream, consumer) (smstats_jetstream_consumer_pending_messages)",
          legend: "pending {{stream}}/{{consumer}}",
          metrics: ["smstats_jetstream_consumer_pending_messages"],
        },
        {
          refId: "B",
          expr: "max by (stream, consumer) (smstats_jetstream_consumer_ack_pending_messages)",
          legend: "unacked {{stream}}/{{consumer}}",
          metrics: ["smstats_jetstream_consumer_ack_pending_messages"],
        },
      ],
    },
    {
      title: "Dead letters",
      description: "Messages set aside to the dead-letter stream per interval, by reason.",
      kind: "timeseries",
      datasource: "prometheus",
      queries: [
        {
          expr: 'sum by (reason) (increase(smstats_component_dropped_total{component="jetstream_source", reason=~"dead_letter:.*"}[$__rate_interval]))',
          legend: "{{reason}}",
          metrics: ["smstats_component_dropped_total"],
        },
      ],
    },
    {
      title: "ClickHouse insert latency",
      description: "p50 and p95 of one insert per raw table.",
      kind: "timeseries",
      datasource: "prometheus",
      unit: "s",
      queries: [
        {
          expr: "histogram_quantile(0.95, sum by (le, table) (rate(smstats_clickhouse_insert_seconds_bucket[$__rate_interval])))",
          legend: "p95 {{table}}",
          metrics: ["smstats_clickhouse_insert_seconds"],
        },
        {
          refId: "B",
          expr: "histogram_quantile(0.5, sum by (le, table) (rate(smstats_clickhouse_insert_seconds_bucket[$__rate_interval])))",
          legend: "p50 {{table}}",
          metrics: ["smstats_clickhouse_insert_seconds"],
        },
      ],
    },
    {
      title: "Sequence gaps",
      description:
        "Batches whose sequence number opened a gap, filled one late, or repeated; numbers skipped.",
      kind: "timeseries",
      datasource: "prometheus",
      queries: [
        {
          expr: 'sum by (outcome) (increase(smstats_ingest_sequence_total{outcome=~"gap|late|repeat"}[$__rate_interval]))',
          legend: "{{outcome}}",
          metrics: ["smstats_ingest_sequence_total"],
        },
        {
          refId: "B",
          expr: "sum(increase(smstats_ingest_sequence_missing_total[$__rate_interval]))",
          legend: "missing",
          metrics: ["smstats_ingest_sequence_missing_total"],
        },
      ],
    },
    {
      title: "Drops by component and reason",
      description: "Items dropped on purpose per second (every drop is counted by reason).",
      kind: "timeseries",
      datasource: "prometheus",
      queries: [
        {
          expr: "sum by (component, reason) (rate(smstats_component_dropped_total[$__rate_interval]))",
          legend: "{{component}} {{reason}}",
          metrics: ["smstats_component_dropped_total"],
        },
      ],
    },
    {
      title: "HTTP latency p99",
      description: "p99 request duration per route.",
      kind: "timeseries",
      datasource: "prometheus",
      unit: "s",
      queries: [
        {
          expr: "histogram_quantile(0.99, sum by (le, route) (rate(smstats_http_request_duration_seconds_bucket[$__rate_interval])))",
          legend: "{{route}}",
          metrics: ["smstats_http_request_duration_seconds"],
        },
      ],
    },
  ],
};

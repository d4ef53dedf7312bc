import * as alerting from "@grafana/grafana-foundation-sdk/alerting";
import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as expr from "@grafana/grafana-foundation-sdk/expr";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import { DATASOURCES, type DatasourceKind, dsRef } from "./datasources.ts";
import { ClickHouseQueryBuilder } from "./queries.ts";
import { SLO_ALERTS } from "./slo.ts";

/**
 * Alert rules as data, built into Grafana-managed rules with the foundation SDK. Each rule is one query
 * (A) whose rows or series are numbers with labels, and a threshold on it (B): SQL rules return string
 * label columns and exactly one numeric column; PromQL rules are instant vectors. The tests run query A
 * on the engines and apply the same threshold.
 */
export interface AlertSpec {
  uid: string;
  title: string;
  /** Rule group (one evaluation interval each). */
  group: "quality" | "pipeline" | "licensing" | "scaling" | "slo";
  summary: string;
  datasource: DatasourceKind;
  /** SQL with the ClickHouse plugin's macros only (no template variables), or PromQL. */
  query: string;
  /** How far back the query's time range starts, seconds. */
  rangeSeconds: number;
  /** Fires when the value is above this. */
  above: number;
  /** How long the condition must hold before firing. */
  for: string;
  severity: "warning" | "critical";
}

/** Folder the rules and boards are provisioned into. */
export const FOLDER = "SongMartyn";

/** Mount points (regex) of the JetStream store and of ClickHouse's data, as node_exporter labels them. */
export const STORAGE_MOUNTS = {
  jetstream: "/var/lib/nats.*|.*/jetstream.*",
  clickhouse: "/var/lib/clickhouse.*",
} as const;

const storageQuery = (mounts: string) =>
  `max by (mountpoint) (1 - node_filesystem_avail_bytes{mountpoint=~"${mounts}",fstype!="tmpfs"}
  / node_filesystem_size_bytes{mountpoint=~"${mounts}",fstype!="tmpfs"})`;

/** The design's scaling triggers: when one of these holds, add capacity (see README, Scaling). */
export const SCALING_ALERTS: readonly AlertSpec[] = [
  {
    uid: "smstats-scale-api-latency",
    title: "Scale: API latency p95 above 500 ms",
    group: "scaling",
    summary: "p95 of API requests is {{ $values.A }} s over 5 minutes: add ingest processes.",
    datasource: "prometheus",
    query:
      'histogram_quantile(0.95, sum by (le) (rate(smstats_http_request_duration_seconds_bucket{route!~"/metrics|/health/.*"}[5m])))',
    rangeSeconds: 600,
    above: 0.5,
    for: "10m",
    severity: "warning",
  },
  {
    uid: "smstats-scale-db-connections",
    title: "Scale: PostgreSQL connections above 80 %",
    group: "scaling",
    summary: "PostgreSQL uses {{ $values.A }} of max_connections: add a pooler or raise the limit.",
    datasource: "prometheus",
    query: "max(smstats_postgres_connections / smstats_postgres_max_connections)",
    rangeSeconds: 600,
    above: 0.8,
    for: "5m",
    severity: "warning",
  },
  {
    uid: "smstats-scale-jetstream-storage",
    title: "Scale: JetStream disk above 70 %",
    group: "scaling",
    summary: "The JetStream disk {{ $labels.mountpoint }} is {{ $values.A }} full.",
    datasource: "prometheus",
    query: storageQuery(STORAGE_MOUNTS.jetstream),
    rangeSeconds: 600,
    above: 0.7,
    for: "15m",
    severity: "warning",
  },
  {
    uid: "smstats-scale-clickhouse-storage",
    title: "Scale: ClickHouse disk above 70 %",
    group: "scaling",
    summary: "The ClickHouse disk {{ $labels.mountpoint }} is {{ $values.A }} full.",
    datasource: "prometheus",
    query: storageQuery(STORAGE_MOUNTS.clickhouse),
    rangeSeconds: 600,
    above: 0.7,
    for: "15m",
    severity: "warning",
  },
  {
    uid: "smstats-scale-active-instances",
    title: "Scale: more than 10,000 active instances",
    group: "scaling",
    summary: "{{ $values.A }} instances reported in the last day: plan the next capacity step.",
    datasource: "clickhouse",
    // Instances that reported today or yesterday (the daily rollup; today's day is still filling).
    query: `SELECT 'fleet' AS scope, toFloat64(uniqMerge(instances)) AS active_instances
FROM active_instances_1d
WHERE day >= toDate($__toTime) - 1 AND day <= toDate($__toTime)`,
    rangeSeconds: 2 * 86_400,
    above: 10_000,
    for: "1h",
    severity: "warning",
  },
];

export const ALERTS: readonly AlertSpec[] = [
  {
    uid: "smstats-error-rate-spike",
    title: "Error-rate spike in one version",
    group: "quality",
    summary:
      "Version {{ $labels.app_version }} reports {{ $values.A }}× its trailing 24-hour errors per instance-hour.",
    datasource: "clickhouse",
    // Errors per instance-hour in the last 60 minutes (minute rollup) against the 24 hours before
    // (hourly rollup), per version; a version needs at least 10 errors in the hour to count, and its
    // baseline is floored at 0.1 errors per instance-hour so a quiet version does not alert on a handful.
    query: `SELECT app_version,
    round((sum(cur_errors) / greatest(sum(cur_instances), 1))
        / greatest(sum(base_errors) / greatest(sum(base_instance_hours), 1), 0.1), 2) AS spike_ratio
FROM (
    SELECT app_version, toFloat64(sumMerge(value_sum)) AS cur_errors, toFloat64(uniqMerge(instances)) AS cur_instances,
        toFloat64(0) AS base_errors, toFloat64(0) AS base_instance_hours
    FROM quality_1m
    WHERE metric_name = 'error_count_by_type' AND bucket > $__toTime - 3600 AND bucket <= $__toTime
    GROUP BY app_version
    UNION ALL
    SELECT app_version, toFloat64(0), toFloat64(0), toFloat64(sum(hour_errors)), toFloat64(sum(hour_instances))
    FROM (
        SELECT bucket, app_version, sumMerge(value_sum) AS hour_errors, uniqMerge(instances) AS hour_instances
        FROM quality_1h
        WHERE metric_name = 'error_count_by_type' AND bucket >= $__toTime - 25 * 3600 AND bucket < $__toTime - 3600
        GROUP BY bucket, app_version
    )
    GROUP BY app_version
)
GROUP BY app_version
HAVING sum(cur_errors) >= 10`,
    rangeSeconds: 25 * 3600,
    above: 3,
    for: "5m",
    severity: "warning",
  },
  {
    uid: "smstats-ingestion-lag",
    title: "Ingestion lag: JetStream backlog",
    group: "pipeline",
    summary: "{{ $values.A }} telemetry messages wait for the processors on {{ $labels.stream }}.",
    datasource: "prometheus",
    // Every processor reports the same consumer's count: max, not sum.
    query: 'max by (stream) (smstats_jetstream_consumer_pending_messages{stream="TELEMETRY"})',
    rangeSeconds: 600,
    above: 50_000,
    for: "5m",
    severity: "critical",
  },
  {
    uid: "smstats-consumer-stalled",
    title: "Processor consumer stalled",
    group: "pipeline",
    summary:
      "Consumer {{ $labels.consumer }} on {{ $labels.stream }} has messages waiting and makes no progress; the processors re-create it.",
    datasource: "prometheus",
    // The processors' watchdog sets the gauge while messages wait and nothing moves; it re-creates the
    // consumer at once, so a stall that lasts past one evaluation means the repair did not work.
    query: "max by (stream, consumer) (smstats_processor_consumer_stalled)",
    rangeSeconds: 600,
    above: 0,
    for: "2m",
    severity: "critical",
  },
  {
    uid: "smstats-dead-letter-growth",
    title: "Dead letters growing",
    group: "pipeline",
    summary: "{{ $values.A }} messages went to the dead-letter stream in 15 minutes.",
    datasource: "prometheus",
    query:
      'sum(increase(smstats_component_dropped_total{component="jetstream_source", reason=~"dead_letter:.*"}[15m]))',
    rangeSeconds: 900,
    above: 10,
    for: "0s",
    severity: "warning",
  },
  {
    uid: "smstats-validation-failure-spike",
    title: "Licence validation failures spike",
    group: "licensing",
    summary: "{{ $values.A }}× the usual share of failed licence validations in the last 10 minutes.",
    datasource: "prometheus",
    // Failed share of the last 10 minutes against the trailing day's; at least 20 failures to count.
    // smstats_licensing_answers_total{endpoint="validate",reason} counts every validate answer.
    query: `(
  sum(increase(smstats_licensing_answers_total{endpoint="validate",reason!="VALID"}[10m]))
    / clamp_min(sum(increase(smstats_licensing_answers_total{endpoint="validate"}[10m])), 1)
) / clamp_min(
  sum(increase(smstats_licensing_answers_total{endpoint="validate",reason!="VALID"}[1d] offset 10m))
    / clamp_min(sum(increase(smstats_licensing_answers_total{endpoint="validate"}[1d] offset 10m)), 1),
  0.01
) and on () sum(increase(smstats_licensing_answers_total{endpoint="validate",reason!="VALID"}[10m])) >= 20`,
    rangeSeconds: 600,
    above: 3,
    for: "5m",
    severity: "warning",
  },
  ...SCALING_ALERTS,
  ...SLO_ALERTS,
];

function queryModel(spec: AlertSpec): cog.Builder<cog.Dataquery> {
  if (spec.datasource === "prometheus") {
    return new prometheus.DataqueryBuilder()
      .refId("A")
      .expr(spec.query)
      .instant()
      .datasource(dsRef("prometheus"));
  }
  if (spec.datasource === "clickhouse") return new ClickHouseQueryBuilder(spec.query, "table", "A");
  throw new Error(`no alert query model for ${spec.datasource}`);
}

/** Builds one Grafana-managed rule with the SDK. */
export function buildRule(spec: AlertSpec): alerting.Rule {
  const threshold = new expr.TypeThresholdBuilder()
    .refId("B")
    .expression("A")
    .datasource({ type: "__expr__", uid: "__expr__" })
    .conditions([{ evaluator: { type: "gt", params: [spec.above] } }]);
  return new alerting.RuleBuilder(spec.title)
    .uid(spec.uid)
    .condition("B")
    .withQuery(
      new alerting.QueryBuilder("A")
        .datasourceUid(DATASOURCES[spec.datasource].uid)
        .relativeTimeRange({ from: spec.rangeSeconds, to: 0 })
        .model(queryModel(spec)),
    )
    .withQuery(
      new alerting.QueryBuilder("B")
        .datasourceUid("__expr__")
        .relativeTimeRange({ from: spec.rangeSeconds, to: 0 })
        .model(threshold),
    )
    .forDuration(spec.for)
    .noDataState("OK")
    .execErrState("Error")
    .labels({ severity: spec.severity, service: "smstats" })
    .annotations({ summary: spec.summary })
    .build();
}

// Grafana expands environment variables in alerting provisioning files ($name, ${name}) and reads $$ as
// a literal $: without escaping, $__toTime and {{ $labels.x }} would become empty strings.
function escapeDollars<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_k, v) => (typeof v === "string" ? v.replace(/\$/g, "$$$$") : v));
}

/** Reverses the escaping of alertProvisioning, as Grafana does when it reads the file. */
export function unescapeDollars<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_k, v) => (typeof v === "string" ? v.replace(/\$\$/g, "$$") : v));
}

/**
 * Where alerts go: admins by mail, and the service's alert intake (POST /v1/webhooks/alerts), which turns
 * each firing alert into an `alert.fired` outgoing webhook. Addresses, URL and token come from Grafana's
 * environment (${…} is expanded by Grafana; nothing secret is committed).
 */
// A reference Grafana replaces with the variable from its environment when it reads the file.
const grafanaEnv = (name: string) => `\${${name}}`;

export const CONTACT_POINTS = [
  {
    orgId: 1,
    name: "smstats-admins-email",
    receivers: [
      {
        uid: "smstats-admins-email",
        type: "email",
        settings: { addresses: grafanaEnv("GRAFANA_SMSTATS_ALERT_EMAILS"), singleEmail: true },
        disableResolveMessage: false,
      },
    ],
  },
  {
    orgId: 1,
    name: "smstats-service-webhook",
    receivers: [
      {
        uid: "smstats-service-webhook",
        type: "webhook",
        settings: {
          url: grafanaEnv("GRAFANA_SMSTATS_ALERTS_URL"),
          httpMethod: "POST",
          authorization_scheme: "Bearer",
          authorization_credentials: grafanaEnv("GRAFANA_SMSTATS_ALERTS_TOKEN"),
        },
        disableResolveMessage: true,
      },
    ],
  },
] as const;

/**
 * Every SongMartyn alert goes to the service's intake (then on to subscribed webhooks) and to the admins'
 * mail; critical ones are repeated every hour, warnings every four.
 */
export const NOTIFICATION_POLICIES = [
  {
    orgId: 1,
    receiver: "smstats-admins-email",
    group_by: ["grafana_folder", "alertname"],
    group_wait: "30s",
    group_interval: "5m",
    repeat_interval: "4h",
    routes: [
      {
        receiver: "smstats-service-webhook",
        object_matchers: [["service", "=", "smstats"]],
        continue: true,
      },
      {
        receiver: "smstats-admins-email",
        object_matchers: [
          ["service", "=", "smstats"],
          ["severity", "=", "critical"],
        ],
        repeat_interval: "1h",
      },
      {
        receiver: "smstats-admins-email",
        object_matchers: [["service", "=", "smstats"]],
      },
    ],
  },
] as const;

/** Grafana's alerting provisioning file (provisioning/alerting/smstats.yaml): one group per AlertSpec group. */
export function alertProvisioning() {
  const groups = [...new Set(ALERTS.map((a) => a.group))];
  return {
    apiVersion: 1,
    contactPoints: CONTACT_POINTS,
    policies: NOTIFICATION_POLICIES,
    groups: groups.map((name) => ({
      orgId: 1,
      name: `smstats-${name}`,
      folder: FOLDER,
      interval: "1m",
      rules: ALERTS.filter((a) => a.group === name).map((a) => {
        // The file format has no folderUID / orgID / ruleGroup per rule: the group carries them.
        const { folderUID: _f, orgID: _o, ruleGroup: _g, ...rule } = buildRule(a);
        return escapeDollars(rule);
      }),
    })),
  };
}

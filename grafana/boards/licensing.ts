import type { BoardSpec } from "./spec.ts";

/**
 * Licensing, from PostgreSQL (licensing/migrations). Written against the tables that exist today
 * (instances, licenses, license_activations); validations by reason code and the audit log's revocations
 * and bans over time come with the licensing issue's migrations (see grafana/README.md, "Pending panels").
 */
export const licensing: BoardSpec = {
  uid: "smstats-licensing",
  title: "SongMartyn · Licensing",
  description: "Instances and licences by tier, activations, revocations and bans.",
  tags: ["songmartyn", "licensing"],
  from: "now-30d",
  variables: [],
  panels: [
    {
      title: "Instances by tier",
      description: "Registered instances per current tier; banned ones apart.",
      kind: "piechart",
      datasource: "postgres",
      width: 8,
      queries: [
        {
          format: "table",
          columns: ["tier", "instances"],
          sql: `SELECT tier, count(*) AS instances FROM instances WHERE NOT coalesce(is_banned, false)
GROUP BY tier ORDER BY instances DESC, tier`,
        },
      ],
    },
    {
      title: "Licences by tier",
      description: "Licences per tier: active (not revoked, not expired), expired, revoked.",
      kind: "table",
      datasource: "postgres",
      width: 16,
      queries: [
        {
          format: "table",
          columns: ["tier", "active", "expired", "revoked", "expiring_30d"],
          sql: `SELECT tier,
    count(*) FILTER (WHERE NOT coalesce(is_revoked, false) AND (expires_at IS NULL OR expires_at > now())) AS active,
    count(*) FILTER (WHERE NOT coalesce(is_revoked, false) AND expires_at <= now()) AS expired,
    count(*) FILTER (WHERE coalesce(is_revoked, false)) AS revoked,
    count(*) FILTER (WHERE NOT coalesce(is_revoked, false) AND expires_at > now()
        AND expires_at <= now() + interval '30 days') AS expiring_30d
FROM licenses GROUP BY tier ORDER BY tier`,
        },
      ],
    },
    {
      title: "Activations",
      description: "Licence activations per day, by tier of the licence.",
      kind: "timeseries",
      datasource: "postgres",
      width: 12,
      minInterval: "1d",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "tier", "activations"],
          sql: `SELECT $__timeGroupAlias(a.activated_at, '1d'), l.tier, count(*) AS activations
FROM license_activations a JOIN licenses l ON l.id = a.license_id
WHERE $__timeFilter(a.activated_at)
GROUP BY 1, 2 ORDER BY 1, 2`,
        },
      ],
    },
    {
      title: "Registrations",
      description: "New instances registered per day, by platform.",
      kind: "timeseries",
      datasource: "postgres",
      width: 12,
      minInterval: "1d",
      stacked: true,
      queries: [
        {
          format: "time_series",
          columns: ["time", "platform", "registrations"],
          sql: `SELECT $__timeGroupAlias(registered_at, '1d'), coalesce(platform, '') AS platform, count(*) AS registrations
FROM instances WHERE $__timeFilter(registered_at)
GROUP BY 1, 2 ORDER BY 1, 2`,
        },
      ],
    },
    {
      title: "Validation answers by reason code",
      description:
        "Answers of POST /v1/auth/validate per reason code (VALID, NOT_FOUND, EXPIRED, REVOKED, …) from the ingest processes' counters.",
      kind: "timeseries",
      datasource: "prometheus",
      width: 12,
      queries: [
        {
          expr: 'sum by (reason) (increase(smstats_licensing_answers_total{endpoint="validate"}[$__rate_interval]))',
          legend: "{{reason}}",
          metrics: ["smstats_licensing_answers_total"],
        },
      ],
    },
    {
      title: "Revocations and bans",
      description: "Licence revocations and instance bans per day, from the admin audit log.",
      kind: "timeseries",
      datasource: "postgres",
      width: 12,
      queries: [
        {
          format: "time_series",
          columns: ["time", "action", "actions"],
          sql: `SELECT $__timeGroupAlias(at, '1d'), action, count(*) AS actions
FROM audit_log WHERE action IN ('license.revoke', 'instance.ban') AND $__timeFilter(at)
GROUP BY 1, action ORDER BY 1, action`,
        },
      ],
    },
    {
      title: "Revoked licences by reason",
      description:
        "Revoked licences per tier and reason (all time: the licences table keeps no revocation time).",
      kind: "table",
      datasource: "postgres",
      width: 12,
      queries: [
        {
          format: "table",
          columns: ["tier", "reason", "licences"],
          sql: `SELECT tier, coalesce(revoke_reason, '') AS reason, count(*) AS licences
FROM licenses WHERE coalesce(is_revoked, false)
GROUP BY tier, reason ORDER BY licences DESC, tier, reason`,
        },
      ],
    },
    {
      title: "Banned instances by reason",
      description: "Banned instances per reason (all time: the instances table keeps no ban time).",
      kind: "table",
      datasource: "postgres",
      width: 12,
      queries: [
        {
          format: "table",
          columns: ["reason", "instances"],
          sql: `SELECT coalesce(ban_reason, '') AS reason, count(*) AS instances
FROM instances WHERE coalesce(is_banned, false)
GROUP BY reason ORDER BY instances DESC, reason`,
        },
      ],
    },
  ],
};

import type { ClickHouseClient } from "@clickhouse/client";
import { loadQueries } from "../../clickhouse/queries/index.ts";

/** Active instances of the fleet: today, the last 7 and 30 days (today included). */
export interface ActiveCounts {
  today: number;
  last_7_days: number;
  last_30_days: number;
}

/** One slice of a breakdown: a version, platform, tier or country and its active instances in 30 days. */
export interface Slice {
  key: string;
  instances: number;
}

/** The console's fleet overview. */
export interface FleetOverview {
  active: ActiveCounts;
  by_version: Slice[];
  by_platform: Slice[];
  by_tier: Slice[];
  by_country: Slice[];
  plays_30_days: number;
  error_rate_by_version: {
    app_version: string;
    errors: number;
    instance_hours: number;
    errors_per_instance_hour: number;
  }[];
}

/** Daily series over the last 30 days, column-wise (what uPlot draws): days as unix seconds. */
export interface FleetDaily {
  days: number[];
  active: number[];
  plays: number[];
  /** Active instances per day of each version (the 6 largest), aligned with days. */
  active_by_version: { app_version: string; values: number[] }[];
}

const DIMENSIONS = {
  by_version: "app_version",
  by_platform: "platform",
  by_tier: "tier",
  by_country: "country",
} as const;

// Every figure reads a rollup (active_instances_1d, playback_1d, quality_1h), never a raw table; active
// instances merge uniq states over the days (summing daily counts would count an instance once per day).
const ACTIVE = `SELECT
    uniqMergeIf(instances, day = toDate(now(), 'UTC')) AS today,
    uniqMergeIf(instances, day > toDate(now(), 'UTC') - 7) AS last_7_days,
    uniqMerge(instances) AS last_30_days
  FROM active_instances_1d WHERE day > toDate(now(), 'UTC') - 30`;
const slice = (column: string) => `SELECT toString(${column}) AS key, uniqMerge(instances) AS instances
  FROM active_instances_1d WHERE day > toDate(now(), 'UTC') - 30
  GROUP BY key ORDER BY instances DESC, key LIMIT 20`;
const PLAYS = `SELECT sumMerge(plays) AS plays FROM playback_1d WHERE day > toDate(now(), 'UTC') - 30`;
const DAILY_ACTIVE = `SELECT toUInt32(toDateTime(day)) AS t, app_version, uniqMerge(instances) AS n
  FROM active_instances_1d WHERE day > toDate(now(), 'UTC') - 30 GROUP BY t, app_version ORDER BY t`;
const DAILY_TOTAL = `SELECT toUInt32(toDateTime(day)) AS t, uniqMerge(instances) AS n
  FROM active_instances_1d WHERE day > toDate(now(), 'UTC') - 30 GROUP BY t ORDER BY t`;
const DAILY_PLAYS = `SELECT toUInt32(toDateTime(day)) AS t, sumMerge(plays) AS n
  FROM playback_1d WHERE day > toDate(now(), 'UTC') - 30 GROUP BY t ORDER BY t`;

/** Reads the fleet figures from ClickHouse's rollups, read-only. */
export interface FleetStats {
  overview(): Promise<FleetOverview>;
  daily(): Promise<FleetDaily>;
}

/** Fleet statistics over a ClickHouse client; every query runs with readonly=1. */
export function createFleetStats(client: ClickHouseClient): FleetStats {
  const rows = async <T>(query: string): Promise<T[]> => {
    const rs = await client.query({ query, format: "JSONEachRow", clickhouse_settings: { readonly: "1" } });
    return (await rs.json()) as T[];
  };
  const errorRate = loadQueries().find((q) => q.name === "error_rate_by_version");
  if (!errorRate) throw new Error("clickhouse/queries/error_rate_by_version.sql is missing");
  const num = (v: unknown) => Number(v ?? 0);
  return {
    async overview() {
      const [active, plays, errors, ...slices] = await Promise.all([
        rows<Record<string, string>>(ACTIVE),
        rows<{ plays: string }>(PLAYS),
        rows<Record<string, string>>(errorRate.statement),
        ...Object.values(DIMENSIONS).map((c) => rows<{ key: string; instances: string }>(slice(c))),
      ]);
      const a = active[0] ?? {};
      const [byVersion, byPlatform, byTier, byCountry] = slices.map((s) =>
        s.map((r) => ({ key: r.key, instances: num(r.instances) })),
      ) as [Slice[], Slice[], Slice[], Slice[]];
      return {
        active: { today: num(a.today), last_7_days: num(a.last_7_days), last_30_days: num(a.last_30_days) },
        by_version: byVersion,
        by_platform: byPlatform,
        by_tier: byTier,
        by_country: byCountry,
        plays_30_days: num(plays[0]?.plays),
        error_rate_by_version: errors.map((r) => ({
          app_version: String(r.app_version),
          errors: num(r.errors),
          instance_hours: num(r.instance_hours),
          errors_per_instance_hour: num(r.errors_per_instance_hour),
        })),
      };
    },
    async daily() {
      const [total, plays, byVersion] = await Promise.all([
        rows<{ t: number; n: string }>(DAILY_TOTAL),
        rows<{ t: number; n: string }>(DAILY_PLAYS),
        rows<{ t: number; app_version: string; n: string }>(DAILY_ACTIVE),
      ]);
      return alignDaily(total, plays, byVersion);
    },
  };
}

/**
 * Puts the daily rows on one axis of days (those with any active instance or play), 0 where a series has
 * no row, keeping the six versions with the most instance-days. Pure, for the charts.
 */
export function alignDaily(
  total: readonly { t: number; n: string | number }[],
  plays: readonly { t: number; n: string | number }[],
  byVersion: readonly { t: number; app_version: string; n: string | number }[],
): FleetDaily {
  const days = [...new Set([...total, ...plays].map((r) => Number(r.t)))].sort((x, y) => x - y);
  const index = new Map(days.map((d, i) => [d, i]));
  const column = (rs: readonly { t: number; n: string | number }[]) => {
    const out = days.map(() => 0);
    for (const r of rs) {
      const i = index.get(Number(r.t));
      if (i !== undefined) out[i] = Number(r.n);
    }
    return out;
  };
  const versions = new Map<string, { t: number; n: string | number }[]>();
  for (const r of byVersion) {
    const list = versions.get(r.app_version) ?? [];
    list.push(r);
    versions.set(r.app_version, list);
  }
  const weight = (rs: { n: string | number }[]) => rs.reduce((s, r) => s + Number(r.n), 0);
  const top = [...versions.entries()]
    .sort((a, b) => weight(b[1]) - weight(a[1]) || a[0].localeCompare(b[0]))
    .slice(0, 6);
  return {
    days,
    active: column(total),
    plays: column(plays),
    active_by_version: top.map(([app_version, rs]) => ({ app_version, values: column(rs) })),
  };
}

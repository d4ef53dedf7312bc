import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { INSERTED_BATCHES_DAYS, INSERTED_BATCHES_TABLE } from "../sinks/clickhouse/index.ts";
import { RAW_TABLES } from "../steps/route/index.ts";

export { type PostgresRetentionItem, runPostgresRetention } from "./postgres-retention.ts";

/** Rollup tables by grain; each is PARTITION BY (tier, toStartOfMonth(bucket|day)) (migrations 0004, 0006). */
export const ROLLUP_TABLES = {
  minute: ["quality_1m"],
  hour: ["quality_1h", "quality_bins_1h", "playback_1h", "sessions_1h"],
  day: [
    "quality_1d",
    "playback_1d",
    "playback_instance_1d",
    "sessions_1d",
    "active_instances_1d",
    "library_1d",
    "library_file_types_1d",
  ],
} as const;

/**
 * Rollups holding one row per instance (its id in the key): personal data like the raw rows, so they
 * follow their tier's raw retention, or a longer per-tier SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS. The
 * other rollups hold only fleet aggregates and keep their grain's days.
 */
export const INSTANCE_ROLLUP_TABLES = [
  "playback_instance_1d",
  "library_1d",
  "library_file_types_1d",
] as const;

/** The table of 0001, partitioned by week alone (no tier); it keeps the longest raw retention of any tier. */
const LEGACY_RAW_TABLE = "metrics_quality_v1";

const DAY_MS = 86_400_000;

/** One partition retention looked at. */
export interface PartitionVerdict {
  table: string;
  /** system.parts' text, e.g. ('starter','2026-01-05'). */
  partition: string;
  partitionId: string;
  rows: number;
  /** Last instant the partition can hold, exclusive (week or month end), ISO. */
  endsAt: string;
  /** Rows older than this may go, ISO. */
  cutoff: string;
  drop: boolean;
}

/** What a retention run did (or would do, dry). */
export interface RetentionReport {
  now: string;
  dryRun: boolean;
  dropped: PartitionVerdict[];
  kept: number;
  /** Partitions whose text retention could not read; never dropped, listed for a human. */
  unknown: { table: string; partition: string }[];
}

type Retention = Config["retention"];

const utcDate = (text: string) => Date.parse(`${text}T00:00:00Z`);

/** Reads ('tier','YYYY-MM-DD') or 'YYYY-MM-DD' (the legacy table) as system.parts prints them. */
export function parsePartition(text: string): { tier: string | null; start: number } | null {
  const tuple = /^\('([a-z_]+)','(\d{4}-\d{2}-\d{2})'\)$/.exec(text);
  if (tuple) return { tier: tuple[1] as string, start: utcDate(tuple[2] as string) };
  const single = /^'?(\d{4}-\d{2}-\d{2})'?$/.exec(text);
  if (single) return { tier: null, start: utcDate(single[1] as string) };
  return null;
}

function monthAfter(start: number): number {
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** The retention in days of a table for a tier (raw: per tier; rollups: per grain). */
export function retentionDays(retention: Retention, table: string, tier: string | null): number | null {
  if (table === LEGACY_RAW_TABLE) {
    return Math.max(retention.rawDays.default, ...Object.values(retention.rawDays.perTier));
  }
  if (table === INSERTED_BATCHES_TABLE) return INSERTED_BATCHES_DAYS;
  if ((RAW_TABLES as readonly string[]).includes(table)) {
    return (tier && retention.rawDays.perTier[tier]) || retention.rawDays.default;
  }
  if ((INSTANCE_ROLLUP_TABLES as readonly string[]).includes(table)) {
    const raw = (tier && retention.rawDays.perTier[tier]) || retention.rawDays.default;
    return (tier && retention.instanceRollupDays[tier]) || raw;
  }
  for (const [grain, tables] of Object.entries(ROLLUP_TABLES)) {
    if ((tables as readonly string[]).includes(table))
      return retention.rollupDays[grain as keyof Retention["rollupDays"]];
  }
  return null;
}

/**
 * Decides about one partition: it goes when everything it can hold is older than the cutoff, i.e. when
 * its week (raw tables) or month (rollups) ended on or before now - retention. Pure.
 */
export function judgePartition(
  retention: Retention,
  now: number,
  part: { table: string; partition: string; partitionId: string; rows: number },
): PartitionVerdict | null {
  const parsed = parsePartition(part.partition);
  const days = retentionDays(retention, part.table, parsed?.tier ?? null);
  if (!parsed || days === null) return null;
  const weekly =
    part.table === LEGACY_RAW_TABLE ||
    part.table === INSERTED_BATCHES_TABLE ||
    (RAW_TABLES as readonly string[]).includes(part.table);
  const endsAt = weekly ? parsed.start + 7 * DAY_MS : monthAfter(parsed.start);
  const cutoff = now - days * DAY_MS;
  return {
    ...part,
    endsAt: new Date(endsAt).toISOString(),
    cutoff: new Date(cutoff).toISOString(),
    drop: endsAt <= cutoff,
  };
}

/**
 * Drops every raw partition past its tier's retention and every rollup partition past its grain's, by
 * partition ID (nothing from the partition text reaches SQL). Safe to run from several processors at
 * once: dropping a partition that is already gone does nothing.
 */
export async function runRetention(
  ch: ClickHouseExecutor,
  retention: Retention,
  opts: { now?: number; dryRun?: boolean } = {},
): Promise<RetentionReport> {
  const now = opts.now ?? Date.now();
  const tables = [
    LEGACY_RAW_TABLE,
    INSERTED_BATCHES_TABLE,
    ...RAW_TABLES,
    ...Object.values(ROLLUP_TABLES).flat(),
  ];
  const parts = await ch.rows<{
    table: string;
    partition: string;
    partition_id: string;
    rows: string | number;
  }>(
    `SELECT table, partition, partition_id, sum(rows) AS rows
     FROM system.parts
     WHERE database = ${sqlString(ch.database)} AND active AND table IN (${tables.map(sqlString).join(", ")})
     GROUP BY table, partition, partition_id
     ORDER BY table, partition`,
  );
  const report: RetentionReport = {
    now: new Date(now).toISOString(),
    dryRun: !!opts.dryRun,
    dropped: [],
    kept: 0,
    unknown: [],
  };
  for (const p of parts) {
    const verdict = judgePartition(retention, now, {
      table: p.table,
      partition: p.partition,
      partitionId: p.partition_id,
      rows: Number(p.rows),
    });
    if (!verdict) {
      report.unknown.push({ table: p.table, partition: p.partition });
      continue;
    }
    if (!verdict.drop) {
      report.kept++;
      continue;
    }
    if (!opts.dryRun) {
      await ch.exec(`ALTER TABLE ${sqlIdentifier(p.table)} DROP PARTITION ID ${sqlString(p.partition_id)}`);
    }
    report.dropped.push(verdict);
  }
  return report;
}

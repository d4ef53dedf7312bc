import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { runRetention } from "../../processors/retention/index.ts";
import { tableSink } from "../../processors/sinks/clickhouse/index.ts";
import { clickhouseDateTime } from "../../processors/steps/route/index.ts";
import { chdbExecutor } from "../support/chdb.ts";

// Retention on both engines: raw rows of each tier at several ages, the rollups their views made, one
// run at a fixed "now", then what is left must be exactly what the policy keeps.
const config = loadConfig({
  ...process.env,
  SMSTATS_RETENTION_RAW_DAYS: "starter=90,venue=730",
  SMSTATS_RETENTION_ROLLUP_DAYS: "minute=35,hour=400,day=1830",
});
const retention: Config["retention"] = config.retention;
const database = `smstats_ret_${process.pid}`;
const engines: ClickHouseExecutor[] = [
  serverExecutor({ ...config.clickhouse, database }),
  chdbExecutor(database),
];
const DAY = 86_400_000;
const NOW = Date.parse("2026-11-25T12:00:00Z");
/** Ages in days of the rows inserted for each tier. */
const AGES = [1, 30, 60, 89, 100, 200, 400, 800];

const row = (tier: string, ageDays: number) => ({
  time: clickhouseDateTime(NOW - ageDays * DAY),
  instance_id: `i-${tier}`,
  tier,
  app_version: "1.0.0",
  platform: "linux",
  country: "DE",
  batch_id: `${tier}-${ageDays}`,
  row_index: 0,
  received_at: clickhouseDateTime(NOW - ageDays * DAY),
  metric_name: "cpu_usage_percent",
  value: ageDays,
  "tags.key": [],
  "tags.value": [],
});

beforeAll(async () => {
  for (const e of engines) {
    await migrateClickHouse(e);
    const sink = await tableSink(e, "metrics_quality", e.engine === "chdb" ? "ArrowStream" : "JSONEachRow");
    await sink.insert(
      ["starter", "party_host", "venue"].flatMap((tier) => AGES.map((age) => row(tier, age))),
    );
  }
});
afterAll(async () => {
  await (engines[0] as ClickHouseExecutor).exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await Promise.all(engines.map((e) => e.close()));
});

/** Ages (days) still present in a table per tier; rollups are read through their bucket/day column. */
async function agesLeft(
  e: ClickHouseExecutor,
  table: string,
  time: string,
): Promise<Record<string, number[]>> {
  const rows = await e.rows<{ tier: string; t: string }>(
    `SELECT DISTINCT tier, toString(${time}) AS t FROM ${sqlIdentifier(table)} ORDER BY tier, t`,
  );
  const out: Record<string, number[]> = {};
  for (const r of rows) {
    const at = Date.parse(r.t.length === 10 ? `${r.t}T00:00:00Z` : `${r.t.replace(" ", "T")}Z`);
    const age = AGES.find((a) => Math.abs(NOW - a * DAY - at) < 2 * DAY) as number;
    out[r.tier] = [...(out[r.tier] ?? []), age];
  }
  for (const k of Object.keys(out)) out[k]?.sort((a, b) => a - b);
  return out;
}

/** Ages a partition policy keeps: a partition goes once its whole week/month is older than the cutoff. */
function kept(days: number, unit: "week" | "month"): number[] {
  return AGES.filter((age) => {
    const t = new Date(NOW - age * DAY);
    const end =
      unit === "week"
        ? Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() - ((t.getUTCDay() + 6) % 7) + 7)
        : Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1);
    return end > NOW - days * DAY;
  });
}

describe.each(engines.map((e) => [e.engine, e] as const))("retention on %s", (_name, e) => {
  it("dry run drops nothing and reports what it would drop", async () => {
    const before = await agesLeft(e, "metrics_quality", "time");
    const report = await runRetention(e, retention, { now: NOW, dryRun: true });
    expect(report.dropped.length).toBeGreaterThan(0);
    expect(await agesLeft(e, "metrics_quality", "time")).toEqual(before);
  });

  it("drops raw partitions per tier and rollup partitions per grain, and nothing younger", async () => {
    const report = await runRetention(e, retention, { now: NOW });
    expect(report.unknown).toEqual([]);
    // Raw: starter and unlisted tiers (party_host) keep 90 days, venue 730; whole weeks only.
    expect(await agesLeft(e, "metrics_quality", "time")).toEqual({
      party_host: kept(90, "week"),
      starter: kept(90, "week"),
      venue: kept(730, "week"),
    });
    // Rollups keep their grain's days for every tier, by whole months.
    for (const [table, time, days] of [
      ["quality_1m", "bucket", 35],
      ["quality_1h", "bucket", 400],
      ["quality_bins_1h", "bucket", 400],
      ["quality_1d", "day", 1830],
    ] as const) {
      const left = await agesLeft(e, table, time);
      const want = kept(days, "month");
      expect(left, table).toEqual({ party_host: want, starter: want, venue: want });
    }
    // What the report says it dropped is what went: a second run finds nothing more.
    expect(report.dropped.every((d) => d.drop && d.endsAt <= d.cutoff)).toBe(true);
    const again = await runRetention(e, retention, { now: NOW });
    expect(again.dropped).toEqual([]);
    // The oldest starter week that stayed still holds its rows.
    const oldest = Math.max(...kept(90, "week"));
    const n = await e.rows<{ n: string }>(
      `SELECT count() AS n FROM metrics_quality WHERE batch_id = ${sqlString(`starter-${oldest}`)}`,
    );
    expect(Number(n[0]?.n)).toBe(1);
  });
});

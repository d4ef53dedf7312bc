import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { histogramQuantile, histogramSql } from "../../grafana/boards/histogram.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  clickhouseMigrationsDir,
  clickhouseTarget,
  loadMigrations,
  runMigrations,
} from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { chdbExecutor } from "../support/chdb.ts";
import { quantile } from "../support/quantile.ts";
import { fixtureClock, fixtureInserts } from "./analytics-fixture.ts";

// Migration 0006 (quality_bins_1h) on both engines, through both of its paths: rows that were in
// metrics_quality before it ran reach the bins through its backfill, rows inserted after it through its
// view, and running it again (as after a failure half-way) counts nothing twice. Counts and sums must
// equal the raw rows'; the boards' quantiles (grafana/boards/histogram.ts) must stay within the bound the
// migration states.
const config = loadConfig();
const database = `smstats_bins_${process.pid}`;
const engines: ClickHouseExecutor[] = [
  serverExecutor({ ...config.clickhouse, database }),
  chdbExecutor(database),
];
const clock = fixtureClock(new Date());
const migrations = loadMigrations(clickhouseMigrationsDir);
const bins = migrations.find((m) => m.version === 6);

/** The migration's bound: every value of a bin is within this relative error of the bin's value. */
const ALPHA = (2 ** (1 / 32) - 1) / (2 ** (1 / 32) + 1);
const LEVELS = [0.5, 0.95, 0.99] as const;
/** Each engine's quantiles, compared across engines at the end. */
const answers = new Map<string, number[]>();

afterAll(async () => {
  await (engines[0] as ClickHouseExecutor).exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await Promise.all(engines.map((e) => e.close()));
});

/**
 * `n` synthetic quality rows from `from` on, spread over two days and two API operations, with values
 * over four orders of magnitude (latency-like), zeros and negatives (a metric that may go below 0), and
 * one NaN, which the bins do not count.
 */
function synthetic(from: number, n: number): string {
  const day = clock.day(2);
  return `INSERT INTO metrics_quality (time, instance_id, tier, app_version, platform, country, batch_id,
    row_index, received_at, metric_name, value, tags.key, tags.value)
SELECT toDateTime('${day} 00:00:00', 'UTC') + (number * 617) % 172800 AS time,
    concat('inst-', toString(number % 7)) AS instance_id, if(number % 3 = 0, 'venue', 'starter') AS tier,
    '1.5.0' AS app_version, 'linux' AS platform, 'DE' AS country, concat('b-', toString(number)) AS batch_id,
    toUInt32(0) AS row_index, time AS received_at,
    if(number % 5 = 4, 'clock_drift_ms', 'api_response_times_ms') AS metric_name,
    multiIf(number = 7, nan, number % 5 = 4, round(sin(number) * 40, 1) * (number % 2),
        round(exp(1 + 4 * abs(sin(number * 0.37))), 1)) AS value,
    ['operation'], [if(number % 2 = 0, 'search', 'queue_add')]
FROM (SELECT number + ${from} AS number FROM numbers(${n}))`;
}

type Row = Record<string, unknown>;
const KEYS = "tier, app_version, platform, metric_name, operation";

/** Per hour and group: raw count and sum (finite values) against the bins' samples and value_sum. */
async function countsAndSums(ch: ClickHouseExecutor) {
  const order = `ORDER BY bucket, ${KEYS}`;
  const raw = await ch.rows<Row>(
    `SELECT toStartOfHour(time) AS bucket, ${KEYS.replace("operation", "tags.value[indexOf(tags.key, 'operation')] AS operation")},
       count() AS n, sum(value) AS s
     FROM metrics_quality WHERE isFinite(value) GROUP BY bucket, ${KEYS} ${order}`,
  );
  const binned = await ch.rows<Row>(
    `SELECT bucket, ${KEYS}, sum(samples) AS n, sum(value_sum) AS s
     FROM quality_bins_1h GROUP BY bucket, ${KEYS} ${order}`,
  );
  const strip = (rows: Row[]) => rows.map(({ s: _s, ...r }) => ({ ...r, n: Number(r.n) }));
  return { raw, binned, rawKeys: strip(raw), binnedKeys: strip(binned) };
}

/** The exact quantile as `quantiles` computes it, and the bound 0006 states for the bins' answer. */
function exact(values: readonly number[], level: number): { value: number; bound: number } {
  const s = [...values].sort((a, b) => a - b);
  const pos = level * (s.length - 1);
  const f = pos - Math.floor(pos);
  const lo = s[Math.floor(pos)] as number;
  const hi = s[Math.min(Math.floor(pos) + 1, s.length - 1)] as number;
  // Each sample is read as its bin's value, within ALPHA of it; the interpolation keeps the bound
  // (ALPHA × |exact| when both samples have one sign).
  return { value: quantile(values, level), bound: ALPHA * ((1 - f) * Math.abs(lo) + f * Math.abs(hi)) };
}

/**
 * The board's quantiles (grafana/boards/histogram.ts) of the bins against the exact quantiles of the raw
 * values, per (metric, operation) over everything and per (hour, metric, operation).
 */
async function quantileErrors(ch: ClickHouseExecutor) {
  const errors: { group: string; level: number; got: number; exact: number; bound: number }[] = [];
  for (const grouping of [
    ["metric_name", "operation"],
    ["bucket", "metric_name", "operation"],
  ]) {
    const keys = Object.fromEntries(grouping.map((k) => [k, k]));
    const list = grouping.join(", ");
    const raw = await ch.rows<Row & { v: number[] }>(
      `SELECT ${list.replace("bucket", "toStartOfHour(time) AS bucket")}, groupArray(value) AS v FROM (
         SELECT *, tags.value[indexOf(tags.key, 'operation')] AS operation FROM metrics_quality WHERE isFinite(value))
       GROUP BY ${list}`,
    );
    const binned = await ch.rows<Row & { q: number[] }>(
      `SELECT ${list}, [${LEVELS.map(histogramQuantile).join(", ")}] AS q
       FROM (${histogramSql(keys, "FROM quality_bins_1h")})`,
    );
    const id = (r: Row) => JSON.stringify(grouping.map((k) => String(r[k])));
    const byGroup = new Map(binned.map((b) => [id(b), b.q]));
    for (const r of raw) {
      LEVELS.forEach((l, i) => {
        const want = exact(r.v.map(Number), l);
        errors.push({
          group: id(r),
          level: l,
          got: Number(byGroup.get(id(r))?.[i]),
          exact: want.value,
          bound: want.bound * (1 + 1e-9) + 1e-12,
        });
      });
    }
  }
  return errors;
}

describe.each(engines.map((e) => [e.engine, e] as const))("quality_bins on %s", (_engine, ch) => {
  beforeAll(async () => {
    expect(bins, "migration 0006").toBeDefined();
    await ch.ensureDatabase();
    // Before 0006: the fixture and the first half of the synthetic rows (the backfill's part).
    await runMigrations(
      clickhouseTarget(ch),
      migrations.filter((m) => m.version < 6),
    );
    for (const statement of fixtureInserts(clock)) await ch.exec(statement);
    await ch.exec(synthetic(0, 3000));
    await runMigrations(clickhouseTarget(ch), migrations);
    // After it: the second half, through the view.
    await ch.exec(synthetic(3000, 3000));
  }, 120_000);

  it("quality_bins_1h counts every finite raw value once, backfilled or through the view", async () => {
    const { raw, binned, rawKeys, binnedKeys } = await countsAndSums(ch);
    expect(raw.length).toBeGreaterThan(10);
    expect(binnedKeys).toEqual(rawKeys);
    binned.forEach((b, i) => {
      expect(Number(b.s)).toBeCloseTo(Number(raw[i]?.s), 6);
    });
  });

  it("the board's quantiles from quality_bins_1h are within 1.1 percent of the exact quantiles", async () => {
    const errors = await quantileErrors(ch);
    expect(errors.length).toBeGreaterThanOrEqual(3 * 4);
    answers.set(
      ch.engine,
      [...errors]
        .sort((a, b) => (`${a.group}${a.level}` < `${b.group}${b.level}` ? -1 : 1))
        .map((e) => e.got),
    );
    const outside = errors.filter((e) => !(Math.abs(e.got - e.exact) <= e.bound));
    expect(outside).toEqual([]);
  });

  it("counts nothing twice when 0006 runs again after a failure half-way", async () => {
    // The runner re-applies a migration from its first statement when it failed before its record.
    await clickhouseTarget(ch).apply(bins as NonNullable<typeof bins>);
    const { rawKeys, binnedKeys } = await countsAndSums(ch);
    expect(binnedKeys).toEqual(rawKeys);
  });
});

describe("the two engines agree", () => {
  it("the board's quantiles from quality_bins_1h are the same on both", () => {
    const [first, second] = [...answers.values()];
    expect(first?.length).toBeGreaterThan(0);
    expect(second?.length).toBe(first?.length);
    first?.forEach((x, i) => {
      expect(second?.[i]).toBeCloseTo(x, 9);
    });
  });
});

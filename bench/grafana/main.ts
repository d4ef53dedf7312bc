import { parseArgs } from "node:util";
import { BOARDS } from "../../grafana/boards/index.ts";
import { clickhousePanelSql } from "../../grafana/macros/index.ts";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { loadBatches } from "../../test/support/fleet-loader.ts";
import { panelContext, sqlPanelQueries } from "../../test/support/grafana-panels.ts";

// `npm run bench:grafana [-- --instances 1000 --days 30 --runs 20 --keep]`
// Loads a simulated fleet into a database of its own on the local ClickHouse server (through the
// processors' steps, test/support/fleet-loader.ts), then runs every ClickHouse panel query of every board
// as Grafana would send it (board range, All selected) `runs` times and prints p50/p95 per query and p95
// per dashboard, beside a `SELECT 1` round trip measured in the same run; the goal is p95 < 500 ms.
// A benchmark, not a test: it asserts nothing and exits 0.

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "1000" },
    days: { type: "string", default: "30" },
    runs: { type: "string", default: "20" },
    // Keeps the loaded database (smstats_bench_grafana) for another run with --reuse.
    keep: { type: "boolean", default: false },
    reuse: { type: "boolean", default: false },
  },
});
const instances = Number(values.instances);
const days = Number(values.days);
const runs = Number(values.runs);
for (const [name, n] of Object.entries({ instances, days, runs })) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const GOAL_MS = 500;
const database = "smstats_bench_grafana";
const config = loadConfig();
const engine = serverExecutor({ ...config.clickhouse, database });
// The fleet ends at the last 22:00 UTC, as in the tests, so the last-hour panels have data.
const HOUR = 3_600_000;
const now = new Date(Math.floor((Date.now() - 22 * HOUR) / (24 * HOUR)) * 24 * HOUR + 22 * HOUR);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
};

async function time(sql: string): Promise<number> {
  const t0 = performance.now();
  await engine.rows(sql);
  return performance.now() - t0;
}

try {
  if (!values.reuse) {
    await engine.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`).catch(() => {});
    await engine.ensureDatabase();
    await migrateClickHouse(engine);
    const fleet = createFleet({ seed: 2026, instances, days, end: now.getTime() });
    const t0 = performance.now();
    let last = 0;
    const counts = await loadBatches([engine], fleet.batches(), {
      secret: Buffer.alloc(32, 1),
      chunkRows: 200_000,
      progress: (rows) => {
        if (rows - last >= 1_000_000) {
          last = rows;
          console.log(
            `  loaded ${(rows / 1e6).toFixed(1)} M rows in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
          );
        }
      },
    });
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `fleet: ${instances} instances × ${days} days = ${total.toLocaleString("en")} raw rows (${JSON.stringify(counts)}) loaded in ${secs.toFixed(0)} s (${Math.round(total / secs).toLocaleString("en")} rows/s, simulation included)`,
    );
  }

  // Warm-up: one run of each query, so the first measured run does not pay for cold caches alone.
  const queries = sqlPanelQueries("clickhouse").map((q) => ({
    ...q,
    sql: clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now)),
  }));
  for (const q of queries) await time(q.sql);
  const ping: number[] = [];
  for (let i = 0; i < runs; i++) ping.push(await time("SELECT 1"));
  const pingP95 = quantile(ping, 0.95);

  const perQuery = new Map<string, number[]>();
  for (let i = 0; i < runs; i++) {
    for (const q of queries) {
      const list = perQuery.get(q.name) ?? [];
      list.push(await time(q.sql));
      perQuery.set(q.name, list);
    }
  }

  console.log(`\nSELECT 1 round trip: p95 ${pingP95.toFixed(1)} ms (${runs} runs)\n`);
  console.log("query".padEnd(74), "p50 ms".padStart(8), "p95 ms".padStart(8), "p95/goal".padStart(9));
  for (const [name, xs] of perQuery) {
    const p95 = quantile(xs, 0.95);
    console.log(
      name.slice(0, 74).padEnd(74),
      quantile(xs, 0.5).toFixed(1).padStart(8),
      p95.toFixed(1).padStart(8),
      (p95 / GOAL_MS).toFixed(2).padStart(9),
    );
  }
  console.log(
    `\n${"dashboard".padEnd(24)} ${"queries".padStart(8)} ${"p95 ms".padStart(8)} ${"p95/goal".padStart(9)} ${"p95/SELECT 1".padStart(13)}`,
  );
  for (const board of BOARDS) {
    const xs = queries.filter((q) => q.board === board).flatMap((q) => perQuery.get(q.name) ?? []);
    if (xs.length === 0) continue;
    const p95 = quantile(xs, 0.95);
    console.log(
      board.uid.padEnd(24),
      String(xs.length / runs).padStart(8),
      p95.toFixed(1).padStart(8),
      (p95 / GOAL_MS).toFixed(2).padStart(9),
      (p95 / pingP95).toFixed(1).padStart(13),
    );
  }
} finally {
  if (!values.keep) await engine.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`).catch(() => {});
  await engine.close();
}

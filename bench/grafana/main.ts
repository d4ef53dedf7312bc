import { parseArgs } from "node:util";
import { BOARDS } from "../../grafana/boards/index.ts";
import { clickhousePanelSql } from "../../grafana/macros/index.ts";
import { createClickHouseClient, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { loadBatches } from "../../test/support/fleet-loader.ts";
import { panelContext, sqlPanelQueries } from "../../test/support/grafana-panels.ts";
import { noteDrop } from "../fs-settle.ts";
import { startCpuMeter } from "../ingest/cpu.ts";
import { machineIdle } from "../machine-idle.ts";
import { quantile } from "./figures.ts";
import { replicateFleet, waitForMerges } from "./replicate.ts";

// `npm run bench:grafana [-- --instances 5000 --days 30 --seeds 50 --runs 20 --keep --reuse]`
// Builds a fleet of `instances` instances × `days` days in a database of its own on the local ClickHouse
// server: `seeds` instances simulated by loadtest/fleet and put through the processors' steps
// (test/support/fleet-loader.ts) into a seed database, then copied on the server by INSERT … SELECT
// (replicate.ts: each copy its own instance id, times shifted by up to an hour) into the benchmark's raw
// tables, which fill every rollup through the materialized views as the processors' inserts do. Then it
// runs every ClickHouse query of every board (panels and template variables) as Grafana would send it
// (board range, All selected) `runs` times and prints p50/p95 per query and p95 per dashboard against
// the goal (300 ms), beside a `SELECT 1` round trip, with the machine's idle CPU before the run.
// A benchmark, not a test: it asserts nothing and exits 0.

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "5000" },
    days: { type: "string", default: "30" },
    // Simulated instances the fleet is copied from (simulation costs about 0.2 s per instance-month).
    seeds: { type: "string", default: "50" },
    runs: { type: "string", default: "20" },
    // Keeps the loaded database (smstats_bench_grafana) for another run with --reuse, and the seed
    // database for another load with --reuse-seed.
    keep: { type: "boolean", default: false },
    reuse: { type: "boolean", default: false },
    "reuse-seed": { type: "boolean", default: false },
  },
});
const instances = Number(values.instances);
const days = Number(values.days);
const seeds = Math.min(Number(values.seeds), instances);
const runs = Number(values.runs);
for (const [name, n] of Object.entries({ instances, days, seeds, runs })) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const GOAL_MS = 300;
const database = "smstats_bench_grafana";
const seedDatabase = "smstats_bench_grafana_seed";
const config = loadConfig();
// INSERT … SELECT of millions of rows through the views takes minutes on a busy box: a long timeout.
const executor = (db: string) =>
  serverExecutor(
    { ...config.clickhouse, database: db },
    // The project's client (its own logging off: a DROP of a database not there yet is no error to
    // print), with progress headers so a long INSERT … SELECT keeps its connection alive.
    createClickHouseClient(
      {
        ...config.clickhouse,
        settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: 10_000 },
      },
      db,
      1_800_000,
    ),
  );
const engine = executor(database);
const seedEngine = executor(seedDatabase);
const stackPid = async () => {
  const { stackStatus } = await import("../../stack/index.ts");
  const { realpathSync } = await import("node:fs");
  const s = await stackStatus({ dataDir: realpathSync(config.dataDir) });
  return s.services.find((x) => x.name === "clickhouse")?.pid;
};
// The fleet ends at the last 22:00 UTC, as in the tests, so the last-hour panels have data.
const HOUR = 3_600_000;
const now = new Date(Math.floor((Date.now() - 22 * HOUR) / (24 * HOUR)) * 24 * HOUR + 22 * HOUR);

async function time(sql: string): Promise<number> {
  const t0 = performance.now();
  await engine.rows(sql);
  return performance.now() - t0;
}

/** The seed fleet through the processors' steps, then the copies on the server. */
async function load() {
  for (const e of values["reuse-seed"] ? [engine] : [engine, seedEngine]) {
    await e.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(e.database)}`).catch(() => {});
    await e.ensureDatabase();
    await migrateClickHouse(e);
  }
  const copies = Math.ceil(instances / seeds);
  if (!values["reuse-seed"]) {
    const t0 = performance.now();
    const fleet = createFleet({ seed: 2026, instances: seeds, days, end: now.getTime() });
    const seedCounts = await loadBatches([seedEngine], fleet.batches(), {
      secret: Buffer.alloc(32, 1),
      chunkRows: 200_000,
    });
    const seedRows = Object.values(seedCounts).reduce((a, b) => a + b, 0);
    const seedSeconds = (performance.now() - t0) / 1000;
    console.log(
      `seed: ${seeds} simulated instances × ${days} days = ${seedRows.toLocaleString("en")} raw rows in ${seedSeconds.toFixed(0)} s (simulation and steps)`,
    );
  }
  const chPid = await stackPid();
  const cpu = startCpuMeter({ clickhouse: chPid });
  const t1 = performance.now();
  let last = 0;
  const counts = await replicateFleet(engine, {
    seedDatabase,
    copies,
    progress: (table, done, rows) => {
      if (rows - last >= 10_000_000 || done === copies) {
        last = rows;
        console.log(
          `  ${table}: ${done}/${copies} copies, ${(rows / 1e6).toFixed(1)} M rows in ${((performance.now() - t1) / 1000).toFixed(0)} s`,
        );
      }
    },
  });
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const secs = (performance.now() - t1) / 1000;
  const used = cpu();
  console.log(
    `fleet: ${seeds * copies} instances × ${days} days = ${total.toLocaleString("en")} raw rows (${JSON.stringify(counts)}) written on the server in ${secs.toFixed(0)} s (${Math.round(total / secs).toLocaleString("en")} rows/s into raw tables and rollups; ClickHouse ${used.others.clickhouse?.toFixed(2) ?? "—"} cores, box ${used.machine?.toFixed(2) ?? "—"})`,
  );
  const waited = await waitForMerges(engine, 120_000);
  console.log(`merges settled after ${(waited / 1000).toFixed(0)} s`);
  if (!values.keep) await seedEngine.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(seedDatabase)}`);
}

try {
  const idle = await machineIdle(1000);
  console.log(
    idle === undefined
      ? "machine idle before the run: unknown (no /proc/stat)"
      : `machine idle before the run: ${(idle * 100).toFixed(0)} % of its cores${idle < 0.8 ? " — BUSY: other work runs beside, the figures are pessimistic" : ""}`,
  );
  if (!values.reuse) await load();

  const queries = [
    ...sqlPanelQueries("clickhouse").map((q) => ({
      name: q.name,
      board: q.board,
      sql: clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now)),
    })),
    // The template variables' queries run whenever a board opens.
    ...BOARDS.flatMap((board) =>
      board.panels.some((p) => p.datasource === "clickhouse")
        ? board.variables.map((v) => ({
            name: `${board.uid} / variable ${v.name}`,
            board,
            sql: clickhousePanelSql(v.sql, {
              from: new Date(now.getTime() - 30 * 24 * HOUR),
              to: now,
              intervalMs: HOUR,
              variables: {},
            }),
          }))
        : [],
    ),
  ];
  // Warm-up: one run of each query, so the first measured run does not pay for cold caches alone.
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
    `\n${"dashboard".padEnd(24)} ${"queries".padStart(8)} ${"p95 ms".padStart(8)} ${"p95/SELECT 1".padStart(13)}  goal p95 < ${GOAL_MS} ms`,
  );
  let allMet = true;
  for (const board of BOARDS) {
    const xs = queries.filter((q) => q.board === board).flatMap((q) => perQuery.get(q.name) ?? []);
    if (xs.length === 0) continue;
    const p95 = quantile(xs, 0.95);
    allMet &&= p95 < GOAL_MS;
    console.log(
      board.uid.padEnd(24),
      String(xs.length / runs).padStart(8),
      p95.toFixed(1).padStart(8),
      (p95 / pingP95).toFixed(1).padStart(13),
      ` ${p95 < GOAL_MS ? "met" : "MISSED"}`,
    );
  }
  console.log(
    `\nevery board's p95 < ${GOAL_MS} ms at ${instances} instances × ${days} days: ${allMet ? "met" : "MISSED"}`,
  );
} finally {
  if (!values.keep) await engine.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`).catch(() => {});
  if (!values.keep)
    await seedEngine.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(seedDatabase)}`).catch(() => {});
  if (!values.keep) noteDrop(config.dataDir);
  await engine.close();
  await seedEngine.close();
}

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createBatchPublisher } from "../../ingest/publish/batch-publisher.ts";
import { connectNats, createPgPool, type InsertFormat, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { reconcileTelemetryStream } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { migrateClickHouse, migratePostgres } from "../../lib/migrate/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { detectInsertFormat, tableSink } from "../../processors/sinks/clickhouse/index.ts";
import { batchToRows } from "../../processors/steps/index.ts";
import { emptyRows, RAW_TABLES, type TableRows } from "../../processors/steps/route/index.ts";
import { exampleBatches, type MetricsBatch, SchemaRegistry } from "../../schemas/index.ts";
import { startCpuMeter } from "../ingest/cpu.ts";

// `npm run bench:processors [-- --batches 8000 --metrics 60 --instances 50]`
// Measures, in one run on the local stack, rows/s into ClickHouse of
//   (a) raw inserts: the rows the processor would make, inserted straight into the raw tables in
//       flush-sized blocks by as many concurrent inserters as the processor has workers;
//   (b) the processor: a processor process draining the same batches from JetStream (decode, enrich,
//       anonymize, downsample, route, buffer, insert, ack);
// and prints b/a (target ≥ 0.7). Both run against the same, freshly migrated database, so both pay for
// the materialized views. Not a test: figures depend on the machine and on what else runs on it.

const { values } = parseArgs({
  options: {
    batches: { type: "string", default: "8000" },
    metrics: { type: "string", default: "60" },
    instances: { type: "string", default: "50" },
  },
});
const settings = {
  batches: Math.min(50_000, Math.max(100, Number(values.batches))),
  metrics: Math.min(1000, Math.max(1, Number(values.metrics))),
  instances: Math.min(1000, Math.max(1, Number(values.instances))),
};

const BENCH_ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_CLICKHOUSE_DATABASE: "smstats_pbench",
  SMSTATS_POSTGRES_DATABASE: "smstats_test",
  SMSTATS_NATS_STREAM: "TELEMETRY_PBENCH",
  SMSTATS_NATS_SUBJECT_PREFIX: "pbench.telemetry",
  SMSTATS_NATS_CONSUMER: "processor_pbench",
  SMSTATS_NATS_STREAM_MAX_BYTES: String(1024 ** 3),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 ** 2),
  SMSTATS_RETENTION_INTERVAL_MS: "0",
} as const;
const config = loadConfig({ ...process.env, ...BENCH_ENV });
const log = createLogger("bench", "warn");
const ch = serverExecutor(config.clickhouse);
const pool = createPgPool(config.postgres.url, "bench-processors", 2);
const HWID_PREFIX = `pbench-${process.pid}-`;
const TIERS = ["starter", "starter", "party_host", "venue"];
const METRIC_NAMES = [
  ["api_response_times_ms", "operation", ["queue.add", "search", "library.sync", "session.join"]],
  ["error_count_by_type", "type", ["mpv", "network", "youtube"]],
  ["mpv_health_status", "status", ["ok"]],
  ["memory_usage_mb", "", []],
  ["cpu_usage_percent", "", []],
  ["websocket_connections_total", "", []],
] as const;

const resetDatabase = async () => {
  // The client names the database in every request, so it must exist to be dropped.
  await ch.ensureDatabase();
  await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(config.clickhouse.database)}`);
  await migrateClickHouse(ch);
};
const countRows = async () => {
  const sql = RAW_TABLES.map((t) => `SELECT count() AS n FROM ${sqlIdentifier(t)}`).join(" UNION ALL ");
  return (await ch.rows<{ n: string }>(sql)).reduce((a, r) => a + Number(r.n), 0);
};

let child: ChildProcess | undefined;
async function cleanup() {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await pool.query("DELETE FROM instances WHERE hwid LIKE $1", [`${HWID_PREFIX}%`]).catch(() => {});
  await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(config.clickhouse.database)}`).catch(() => {});
}

try {
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  // Instances, so enrich finds their tier, platform and version as it would in production.
  const instances: { id: string; tier: string }[] = [];
  for (let i = 0; i < settings.instances; i++) {
    const tier = TIERS[i % TIERS.length] as string;
    const { rows } = await pool.query<{ id: string }>(
      "INSERT INTO instances (hwid, tier, platform, version) VALUES ($1, $2, 'linux', '1.4.2') RETURNING id",
      [`${HWID_PREFIX}${i}`, tier],
    );
    instances.push({ id: (rows[0] as { id: string }).id, tier });
  }

  // The batches: the "everything" example (every family) with `metrics` quality samples each.
  const template = exampleBatches.everything;
  const start = Date.now() - 3_600_000;
  const batches: MetricsBatch[] = [];
  for (let b = 0; b < settings.batches; b++) {
    const inst = instances[b % instances.length] as { id: string };
    const at = start + Math.floor(b / instances.length) * 30_000;
    const metrics = Array.from({ length: settings.metrics }, (_, k) => {
      const [name, tag, tagValues] = METRIC_NAMES[k % METRIC_NAMES.length] as (typeof METRIC_NAMES)[number];
      return {
        name,
        value: (b * 31 + k * 7) % 500,
        tags: tag ? { [tag]: tagValues[(b + k) % tagValues.length] as string } : {},
        time_ms: at + (k % 60) * 500,
      };
    });
    batches.push({
      ...structuredClone(template),
      instance_id: inst.id,
      batch_id: `pb-${b}`,
      seq: b,
      timestamp_ms: at,
      sent_at_ms: at,
      metrics,
    } as MetricsBatch);
  }
  // The rows the processor makes of them, made here once by the same steps.
  const secret = Buffer.alloc(32, 1);
  const rows: TableRows = emptyRows();
  const tierOf = new Map(instances.map((i) => [i.id, i.tier]));
  for (const batch of batches) {
    const instance = { tier: tierOf.get(batch.instance_id) as string, platform: "linux", version: "1.4.2" };
    batchToRows(batch, { instance, country: "DE", secret }, Date.now(), rows);
  }
  const total = RAW_TABLES.reduce((n, t) => n + rows[t].length, 0);
  await ch.ensureDatabase();
  const format: InsertFormat =
    config.processor.insertFormat === "auto" ? await detectInsertFormat(ch) : config.processor.insertFormat;
  console.error(
    `${settings.batches} batches, ${total} rows (${RAW_TABLES.map((t) => `${t} ${rows[t].length}`).join(", ")}); format ${format}`,
  );

  // (a) raw inserts of those rows, flush-sized blocks, `workers` inserters.
  await resetDatabase();
  const jobs = RAW_TABLES.flatMap((t) => {
    const out: { table: string; rows: Record<string, unknown>[] }[] = [];
    for (let i = 0; i < rows[t].length; i += config.processor.flushRows) {
      out.push({ table: t, rows: rows[t].slice(i, i + config.processor.flushRows) });
    }
    return out;
  }).sort((x, y) => y.rows.length - x.rows.length);
  const sinks = Object.fromEntries(
    await Promise.all(RAW_TABLES.map(async (t) => [t, await tableSink(ch, t, format)])),
  );
  const rawCpu = startCpuMeter({});
  const rawStarted = performance.now();
  await Promise.all(
    Array.from({ length: config.processor.workers }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await sinks[job.table].insert(job.rows);
    }),
  );
  const rawSeconds = (performance.now() - rawStarted) / 1000;
  const rawShare = rawCpu();
  const rawCount = await countRows();
  console.error(`raw inserts: ${rawCount} rows in ${rawSeconds.toFixed(2)} s`);

  // (b) the processor draining the same batches from JetStream.
  await resetDatabase();
  const nats = await connectNats(config.nats.servers, "bench-processors", log);
  const jsm = await jetstreamManager(nats.nc);
  await jsm.consumers.delete(config.nats.stream, config.nats.consumer).catch(() => {});
  await reconcileTelemetryStream(jsm, config, log);
  await jsm.streams.purge(config.nats.stream);
  const publisher = createBatchPublisher({
    nats,
    js: jetstream(nats.nc),
    registry: new SchemaRegistry(),
    subject: `${config.nats.subjectPrefix}.batch`,
    timeoutMs: 10_000,
    maxMessageBytes: 1024 * 1024,
  });
  const published = performance.now();
  for (let i = 0; i < batches.length; i += 200) {
    await Promise.all(
      batches
        .slice(i, i + 200)
        .map((batch) =>
          publisher.publish(
            { kind: "record", batch },
            { receivedAt: Date.now(), clientIp: "81.2.69.142", clockSkewMs: 0, clamped: 0 },
          ),
        ),
    );
  }
  console.error(
    `published ${batches.length} batches in ${((performance.now() - published) / 1000).toFixed(2)} s`,
  );
  const port = await freePort();
  // BENCH_CPU_PROF=<dir> writes the processor's CPU profile there when it stops.
  const prof = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  child = spawn(process.execPath, [...prof, "--import", "tsx", join(repoRoot, "processors/main.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...BENCH_ENV,
      SMSTATS_PROCESSOR_PORT: String(port),
      ...(process.env.BENCH_DEBUG ? { SMSTATS_LOG_LEVEL: "debug" } : {}),
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  // The clock starts when the process answers ready, which is just before its workers start fetching.
  for (;;) {
    if (child.exitCode !== null) throw new Error("the processor exited");
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const procCpu = startCpuMeter({ processor: child.pid });
  const procStarted = performance.now();
  let seen = 0;
  const deadline = Date.now() + 300_000;
  while (seen < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await countRows();
  }
  const procSeconds = (performance.now() - procStarted) / 1000;
  const procShare = procCpu();
  const processorMetrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const inserts = [
    ...processorMetrics.matchAll(
      /^smstats_clickhouse_insert_seconds_(sum|count)\{[^}]*table="(\w+)"[^}]*\} ([\d.e+-]+)$/gm,
    ),
  ];
  const insertStats: Record<string, { sum?: number; count?: number }> = {};
  for (const [, kind, table, v] of inserts) {
    insertStats[table as string] = { ...insertStats[table as string], [kind as string]: Number(v) };
  }
  console.error(
    `processor inserts: ${Object.entries(insertStats)
      .map(([t, x]) => `${t} ${x.count} inserts ${x.sum?.toFixed(2)} s`)
      .join(", ")}`,
  );
  child.kill("SIGTERM");
  await new Promise((r) => child?.once("exit", r));
  await jsm.streams.delete(config.nats.stream).catch(() => {});
  await jsm.streams.delete(`${config.nats.stream}_DLQ`).catch(() => {});
  await nats.nc.close();

  const rawRate = rawCount / rawSeconds;
  const procRate = seen / procSeconds;
  const pct = (x: number | undefined) => (x === undefined ? "-" : `${Math.round(x * 100)}%`);
  const summary = {
    at: new Date().toISOString(),
    settings: {
      ...settings,
      workers: config.processor.workers,
      flushRows: config.processor.flushRows,
      format,
    },
    rows: total,
    raw: { rows: rawCount, seconds: rawSeconds, rowsPerSecond: rawRate, machineCpu: rawShare.machine },
    processor: {
      rows: seen,
      seconds: procSeconds,
      rowsPerSecond: procRate,
      processorCpu: procShare.others.processor,
      machineCpu: procShare.machine,
    },
    ratio: procRate / rawRate,
    target: 0.7,
    lostOrDuplicated: seen - total,
  };
  console.log(
    [
      "",
      `processors benchmark (${total} rows from ${settings.batches} batches, ${format}, ${config.processor.workers} workers, flush ${config.processor.flushRows} rows)`,
      "",
      "| path                     | rows/s   | seconds | CPU (cores)                      |",
      "| ------------------------ | -------- | ------- | -------------------------------- |",
      `| (a) raw inserts          | ${Math.round(rawRate).toString().padEnd(8)} | ${rawSeconds.toFixed(2).padEnd(7)} | machine ${pct(rawShare.machine)} |`,
      `| (b) processor end to end | ${Math.round(procRate).toString().padEnd(8)} | ${procSeconds.toFixed(2).padEnd(7)} | processor ${pct(procShare.others.processor)}, machine ${pct(procShare.machine)} |`,
      "",
      `b/a = ${summary.ratio.toFixed(2)} (target ≥ 0.7${summary.ratio >= 0.7 ? ", met" : ", missed"}); rows stored minus rows expected: ${summary.lostOrDuplicated}`,
    ].join("\n"),
  );
  const dir = join(config.dataDir, "bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `processors-${summary.at.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`report: ${file}`);
} finally {
  await cleanup();
  await ch.close();
  await pool.end();
}

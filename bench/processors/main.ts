import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createBatchPublisher } from "../../ingest/publish/batch-publisher.ts";
import {
  type ClickHouseExecutor,
  connectNats,
  createClickHouseClient,
  createPgPool,
  type InsertFormat,
  serverExecutor,
} from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { reconcileTelemetryStream } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { migrateClickHouse, migratePostgres } from "../../lib/migrate/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { detectInsertFormat, tableSink } from "../../processors/sinks/clickhouse/index.ts";
import { batchToRows } from "../../processors/steps/index.ts";
import { emptyRows, RAW_TABLES, type TableRows } from "../../processors/steps/route/index.ts";
import { exampleBatches, type MetricsBatch, SchemaRegistry } from "../../schemas/index.ts";
import { stackStatus } from "../../stack/index.ts";
import { journallessExt4Warning, noteDrop, settleAfterDrops } from "../fs-settle.ts";
import { type CpuShare, startCpuMeter } from "../ingest/cpu.ts";
import { machineIdle } from "../machine-idle.ts";
import { dumpBodies, insertBodies, SERVER_FORMATS, type ServerFormat } from "./formats.ts";

// `npm run bench:processors [-- --batches 8000 --metrics 60 --instances 50]`
// Measures, in one run on the local stack, rows/s into ClickHouse of
//   (a) raw inserts: the rows the processor would make, inserted straight into the raw tables in
//       flush-sized blocks by as many concurrent inserters as the processor has workers, in the
//       processor's own format;
//   (a*) the same rows in every input format ClickHouse 18.16 reads for them (bodies written by the
//       server itself), the fastest being ClickHouse's ceiling for these rows;
//   (b) the processor: a processor process draining the same batches from JetStream (decode, enrich,
//       anonymize, downsample, route, buffer, insert, ack);
// and prints b/a (target ≥ 0.8) and b/a* (target ≥ 0.6), CPU per row of the processor, ClickHouse,
// NATS and the whole box, the machine's idle CPU before the run, and lost / duplicated rows per table.
// Each phase uses a freshly migrated database of its own, so each pays for the materialized views. Not a
// test: figures depend on the machine and on what else runs on it.

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

// Each phase writes into a freshly migrated database of its own, and all are dropped at the end: a
// phase measured right after the previous phase's DROP would pay for its deleted files (bench/fs-settle.ts).
const phaseConfig = (phase: string) => ({
  ...config.clickhouse,
  database: `${config.clickhouse.database}_${phase}`,
});
const phaseExecutors: ClickHouseExecutor[] = [];
const freshDatabase = async (phase: string) => {
  const e = serverExecutor(phaseConfig(phase));
  phaseExecutors.push(e);
  await e.ensureDatabase();
  await migrateClickHouse(e);
  return e;
};
const countRows = async (e: ClickHouseExecutor) => {
  const sql = RAW_TABLES.map((t) => `SELECT count() AS n FROM ${sqlIdentifier(t)}`).join(" UNION ALL ");
  return (await e.rows<{ n: string }>(sql)).reduce((a, r) => a + Number(r.n), 0);
};
// Drops the phases' databases (this run's, or those of a run that died), and with `all` the one `ch`
// names too (so nothing can be asked after that).
const dropBenchDatabases = async (all: boolean) => {
  const prefix = config.clickhouse.database.replace(/[\\_%]/g, "\\$&");
  const dbs = await ch.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE name LIKE ${sqlString(`${prefix}\\_%`)}`,
  );
  for (const { name } of dbs) await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(name)}`);
  if (all) await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(config.clickhouse.database)}`);
  if (dbs.length > 0) noteDrop(config.dataDir);
};

let child: ChildProcess | undefined;
async function cleanup() {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await pool.query("DELETE FROM instances WHERE hwid LIKE $1", [`${HWID_PREFIX}%`]).catch(() => {});
  await dropBenchDatabases(true).catch(() => {});
  for (const e of phaseExecutors) await e.close().catch(() => {});
}

const TARGET_RAW = 0.8;
const TARGET_CEILING = 0.6;
// CPU of a stretch in µs per row, by process and for the box.
const perRow = (share: CpuShare, seconds: number, rows: number) => {
  const us = (cores: number | undefined) =>
    cores === undefined ? undefined : (cores * seconds * 1e6) / rows;
  return {
    ...Object.fromEntries(Object.entries(share.others).map(([k, v]) => [k, us(v)])),
    box: us(share.machine),
  };
};
const cpuLine = (x: Record<string, number | undefined>) =>
  Object.entries(x)
    .map(([k, v]) => `${k} ${v === undefined ? "—" : v.toFixed(1)}`)
    .join(", ");

try {
  const idle = await machineIdle(2000);
  const busy = idle !== undefined && idle < 0.8;
  console.error(
    idle === undefined
      ? "machine idle before the run: unknown"
      : `machine idle before the run: ${Math.round(idle * 100)} %${busy ? " — BUSY: other work shares the cores, the ratios are not those of a quiet machine" : ""}`,
  );
  const stack = await stackStatus({ dataDir: realpathSync(config.dataDir) });
  const pidOf = (name: string) => stack.services.find((x) => x.name === name)?.pid;
  const stackPids = { clickhouse: pidOf("clickhouse"), nats: pidOf("nats") };
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
  const fsWarning = journallessExt4Warning(realpathSync(config.dataDir));
  await ch.ensureDatabase();
  await dropBenchDatabases(false);
  await settleAfterDrops(config.dataDir);
  const format: InsertFormat =
    config.processor.insertFormat === "auto" ? await detectInsertFormat(ch) : config.processor.insertFormat;
  console.error(
    `${settings.batches} batches, ${total} rows (${RAW_TABLES.map((t) => `${t} ${rows[t].length}`).join(", ")}); format ${format}`,
  );

  // (a) raw inserts of those rows, flush-sized blocks, `workers` inserters.
  const chA = await freshDatabase("a");
  const jobs = RAW_TABLES.flatMap((t) => {
    const out: { table: string; rows: Record<string, unknown>[] }[] = [];
    for (let i = 0; i < rows[t].length; i += config.processor.flushRows) {
      out.push({ table: t, rows: rows[t].slice(i, i + config.processor.flushRows) });
    }
    return out;
  }).sort((x, y) => y.rows.length - x.rows.length);
  const sinks = Object.fromEntries(
    await Promise.all(RAW_TABLES.map(async (t) => [t, await tableSink(chA, t, format)])),
  );
  const rawCpu = startCpuMeter(stackPids);
  const rawStarted = performance.now();
  await Promise.all(
    Array.from({ length: config.processor.workers }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await sinks[job.table].insert(job.rows);
    }),
  );
  const rawSeconds = (performance.now() - rawStarted) / 1000;
  const rawShare = rawCpu();
  const rawCount = await countRows(chA);
  console.error(`raw inserts: ${rawCount} rows in ${rawSeconds.toFixed(2)} s`);

  // (a*) the same rows in every format the server reads, from bodies the server writes of them.
  const client = createClickHouseClient(phaseConfig("a"));
  const formats: {
    format: ServerFormat;
    seconds: number;
    rowsPerSecond: number;
    cpuUsPerRow: Record<string, number | undefined>;
  }[] = [];
  try {
    const counts = Object.fromEntries(RAW_TABLES.map((t) => [t, rows[t].length]));
    const bodies = new Map<ServerFormat, Awaited<ReturnType<typeof dumpBodies>>>();
    for (const f of SERVER_FORMATS)
      bodies.set(f, await dumpBodies(client, counts, config.processor.flushRows, f));
    for (const f of SERVER_FORMATS) {
      const chF = await freshDatabase(f.toLowerCase());
      const fClient = createClickHouseClient(phaseConfig(f.toLowerCase()));
      const meter = startCpuMeter(stackPids);
      const seconds = await insertBodies(fClient, bodies.get(f) ?? [], f, config.processor.workers).finally(
        () => fClient.close(),
      );
      const share = meter();
      const stored = await countRows(chF);
      if (stored !== total) throw new Error(`${f}: ${stored} rows stored of ${total}`);
      formats.push({
        format: f,
        seconds,
        rowsPerSecond: total / seconds,
        cpuUsPerRow: perRow(share, seconds, total),
      });
      console.error(
        `    ${f.padEnd(12)} ${Math.round(total / seconds)
          .toString()
          .padStart(8)} rows/s  CPU µs/row: ${cpuLine(perRow(share, seconds, total))}`,
      );
    }
  } finally {
    await client.close();
  }
  formats.sort((x, y) => y.rowsPerSecond - x.rowsPerSecond);
  const ceiling = formats[0] as (typeof formats)[number];

  // (b) the processor draining the same batches from JetStream.
  const chB = await freshDatabase("b");
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
      SMSTATS_CLICKHOUSE_DATABASE: chB.database,
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
  const procCpu = startCpuMeter({ processor: child.pid, ...stackPids });
  const procStarted = performance.now();
  // The processor's own count of rows inserted (its sink counts after each insert) is polled, not
  // ClickHouse: a count() every 100 ms would add the bench's queries to ClickHouse's CPU per row (18.16
  // has no trivial-count shortcut). ClickHouse is counted once the processor says it is done.
  const sinkRows = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text().catch(() => "");
    const m = /^smstats_component_sent_total\{[^}]*component="clickhouse_sink"[^}]*\} ([\d.e+]+)$/m.exec(
      text,
    );
    return Number(m?.[1] ?? 0);
  };
  let seen = 0;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if ((await sinkRows()) < total) continue;
    seen = await countRows(chB);
    if (seen >= total) break;
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

  // Lost and duplicated, per table: every (batch_id, row_index) expected once.
  const integrity: Record<string, { expected: number; stored: number; distinct: number }> = {};
  for (const t of RAW_TABLES) {
    const [r] = await chB.rows<{ n: string; u: string }>(
      `SELECT count() AS n, uniqExact(instance_id, batch_id, row_index) AS u FROM ${sqlIdentifier(t)}`,
    );
    integrity[t] = { expected: rows[t].length, stored: Number(r?.n ?? 0), distinct: Number(r?.u ?? 0) };
  }
  const lost = Object.values(integrity).reduce((a, x) => a + Math.max(0, x.expected - x.distinct), 0);
  const duplicated = Object.values(integrity).reduce((a, x) => a + x.stored - x.distinct, 0);
  const rawRate = rawCount / rawSeconds;
  const procRate = seen / procSeconds;
  const rawUs = perRow(rawShare, rawSeconds, rawCount);
  const procUs = perRow(procShare, procSeconds, seen);
  const mark = (ok: boolean) => (ok ? "met" : "MISSED");
  const summary = {
    at: new Date().toISOString(),
    machineIdleBefore: idle,
    settings: {
      ...settings,
      workers: config.processor.workers,
      flushRows: config.processor.flushRows,
      format,
    },
    rows: total,
    raw: { rows: rawCount, seconds: rawSeconds, rowsPerSecond: rawRate, cpuUsPerRow: rawUs },
    formats,
    processor: { rows: seen, seconds: procSeconds, rowsPerSecond: procRate, cpuUsPerRow: procUs },
    ratios: { b_over_a: procRate / rawRate, b_over_ceiling: procRate / ceiling.rowsPerSecond },
    targets: { b_over_a: TARGET_RAW, b_over_ceiling: TARGET_CEILING },
    integrity: { lost, duplicated, perTable: integrity },
  };
  const row = (what: string, rate: number, secs: number, us: Record<string, number | undefined>) =>
    `| ${what.padEnd(38)} | ${Math.round(rate).toString().padStart(7)} | ${secs.toFixed(2).padStart(7)} | ${cpuLine(us)} |`;
  console.log(
    [
      "",
      `processors benchmark (${total} rows from ${settings.batches} batches, ${format}, ${config.processor.workers} workers, flush ${config.processor.flushRows} rows)`,
      idle === undefined
        ? "machine idle before the run: unknown"
        : `machine idle before the run: ${Math.round(idle * 100)} %${busy ? " — BUSY: the ratios below are not those of a quiet machine" : ""}`,
      ...(fsWarning ? [fsWarning] : []),
      "",
      "| path                                   |  rows/s | seconds | CPU µs per row (per process, whole box) |",
      "| -------------------------------------- | ------- | ------- | --------------------------------------- |",
      row(`(a) raw inserts, ${format}`, rawRate, rawSeconds, rawUs),
      ...formats.map((f) =>
        row(
          `(a*) raw inserts, ${f.format}${f === ceiling ? " (ceiling)" : ""}`,
          f.rowsPerSecond,
          f.seconds,
          f.cpuUsPerRow,
        ),
      ),
      row("(b) processor end to end", procRate, procSeconds, procUs),
      "",
      `processor vs raw inserts of the same rows: b/a = ${summary.ratios.b_over_a.toFixed(2)} (target ≥ ${TARGET_RAW}: ${mark(summary.ratios.b_over_a >= TARGET_RAW)})`,
      `processor vs ClickHouse's ceiling (${ceiling.format}): b/a* = ${summary.ratios.b_over_ceiling.toFixed(2)} (target ≥ ${TARGET_CEILING}: ${mark(summary.ratios.b_over_ceiling >= TARGET_CEILING)})`,
      `lost ${lost}, duplicated ${duplicated} of ${total} rows (${mark(lost === 0 && duplicated === 0)}): ${Object.entries(
        integrity,
      )
        .map(
          ([t, x]) =>
            `${t} ${x.distinct}/${x.expected}${x.stored > x.distinct ? ` +${x.stored - x.distinct} dup` : ""}`,
        )
        .join(", ")}`,
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

import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { createPgPool, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { migrateAll } from "../../lib/migrate/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { namespaceEnv, removeNamespaceStreams } from "../../loadtest/service.ts";
import { clusterStatus } from "../../stack/cluster/index.ts";
import { stackStatus } from "../../stack/index.ts";
import { journallessExt4Warning, noteDrop, settleAfterDrops } from "../fs-settle.ts";
import { createFleet, METRICS_PER_BATCH } from "../ingest/bodies.ts";
import { startCpuMeter } from "../ingest/cpu.ts";
import { registerInstances } from "../ingest/instances.ts";
import { type ChildServer, spawnServer, startIngest, stopAll, waitUntil } from "../ingest/servers.ts";
import { renderChart, seriesOf } from "./chart.ts";
import { lagsMs, type PhaseResult, quantile, runPhase } from "./drive.ts";
import { gcBetween, loopStats, waitsBetween } from "./loop-stats.ts";
import { measureRawCeiling } from "./raw-ceiling.ts";
import { DIRECT_PG_TABLE } from "./rows.ts";
import { busyWarning, cpuMicrosPerMetric, pipelineTargets, renderTargets } from "./targets.ts";

// `npm run bench [-- --duration 20 --connections 32 --instances 16]`: in one run on the local stack,
//   (a) ClickHouse's ceiling: the same rows bulk-inserted straight into metrics_quality;
//   (b) the pipeline end to end: HTTP accept → visible in ClickHouse at the highest rate it sustains, then
//       at half that rate for ingest latency and accept → visible lag;
//   (c) the alternatives: a handler inserting each request into ClickHouse, and into PostgreSQL;
// then prints metrics/s, ratios, latencies, CPU per process, lost/duplicated rows, and writes a JSON report
// and an SVG chart into .data/bench/. Everything runs on its own namespace ("benchpipe") of the stack.

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "20" },
    connections: { type: "string", default: "32" },
    instances: { type: "string", default: "16" },
    // Runs the bench on the single stack, then on the cluster stack, and prints both tables side by side.
    cluster: { type: "boolean", default: false },
    // One run of --cluster on the cluster stack (SMSTATS_DATA_DIR points at it).
    "cluster-member": { type: "boolean", default: false },
  },
});
if (values.cluster) {
  const { sideBySide } = await import("./side-by-side.ts");
  process.exit(await sideBySide(values.duration, values.connections, values.instances));
}
const bounded = (v: string, name: string, min: number, max: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
};
const settings = {
  durationSeconds: bounded(values.duration, "duration", 3, 60),
  connections: bounded(values.connections, "connections", 1, 256),
  instances: bounded(values.instances, "instances", 1, 256),
};
const NO_LIMIT = "100000000";
const ENV: Record<string, string> = {
  ...namespaceEnv("benchpipe"),
  // Room for a 20 s burst at the ingest's full speed (~1k batches/s of ~8 KB) before the processor drains it.
  SMSTATS_NATS_STREAM_MAX_BYTES: String(512 * 1024 * 1024),
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_INGEST_HOST: "127.0.0.1",
  SMSTATS_PROCESSOR_HOST: "127.0.0.1",
  SMSTATS_INGEST_RATE_LIMIT_PER_MIN: NO_LIMIT,
  SMSTATS_INGEST_RATE_LIMIT_TIERS: `starter=${NO_LIMIT},party_host=${NO_LIMIT},venue=${NO_LIMIT}`,
  // Up to 256 instances register from one address per run, and runs follow each other (licensing's
  // per-address rule, 60 an hour, stopped the fourth run of an hour).
  SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: NO_LIMIT,
  // Capacity from one address: no per-address connection cap, no in-flight shedding.
  SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: NO_LIMIT,
  SMSTATS_INGEST_MAX_IN_FLIGHT: NO_LIMIT,
  // Every bench batch carries the example's error metrics, thousands of batches an hour per instance:
  // the abuse rule (1,000 error reports per instance per hour) would drop them as abuse.
  SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR: NO_LIMIT,
};
const config = loadConfig({ ...process.env, ...ENV });
const ch = serverExecutor(config.clickhouse);
const tsNode = (script: string) => ["--import", "tsx", join(repoRoot, script)];

async function startProcessor(): Promise<ChildServer> {
  const port = await freePort();
  const server = spawnServer(
    "processor",
    `http://127.0.0.1:${port}`,
    process.execPath,
    tsNode("processors/main.ts"),
    {
      ...process.env,
      ...ENV,
      SMSTATS_PROCESSOR_PORT: String(port),
    },
  );
  await waitUntil(server, async () => (await fetch(`${server.url}/health/ready`)).ok, 60_000);
  return server;
}

async function startDirect(mode: "clickhouse" | "postgres"): Promise<ChildServer> {
  const port = await freePort();
  const server = spawnServer(
    `direct-${mode}`,
    `http://127.0.0.1:${port}`,
    process.execPath,
    [...tsNode("bench/pipeline/direct-server.ts"), "--port", String(port), "--mode", mode],
    { ...process.env, ...ENV },
  );
  await waitUntil(server, async () => (await fetch(`${server.url}/`)).status === 404, 30_000);
  return server;
}

/**
 * Rows of metrics_quality visible to queries: on one server, the rows of its active parts (metadata, no
 * scan: a part is active from the moment its insert commits, and a merge swaps parts with the same rows).
 * Only the pipeline writes that table while a phase runs, so the change over a phase is the phase's rows.
 * A `count() … WHERE instance_id IN (…)` every 250 ms read the instance column of every row (the ceiling's
 * ~10 M among them), 40-90 ms per poll on this machine: ClickHouse CPU charged to the pipeline. On the
 * cluster stack, parts are per server, so the count over the Distributed table stays.
 */
const visibleRows = async (ids: string[]) =>
  Number(
    (
      await ch.rows<{ n: string }>(
        config.clickhouse.cluster
          ? `SELECT count() AS n FROM metrics_quality WHERE instance_id IN (${ids.map((i) => sqlString(i)).join(", ")})`
          : `SELECT sum(rows) AS n FROM system.parts WHERE database = ${sqlString(config.clickhouse.database)} AND table = 'metrics_quality' AND active`,
      )
    )[0]?.n ?? 0,
  );

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n)
    ? "—"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

try {
  // The real path: the stack's processes name their data folder by it, and .data may be a symlink.
  // On the cluster stack (--cluster-member), the servers measured are the entry nodes: nats-1, the
  // ClickHouse replica s1r1 (the other nodes' CPU shows in "not ours").
  const onCluster = values["cluster-member"];
  const stack = await stackStatus({
    dataDir: realpathSync(onCluster ? dirname(config.dataDir) : config.dataDir),
  });
  if (!stack.allUp) throw new Error("the local stack is not up: run `npm run stack:up` first");
  const nodes = onCluster ? clusterStatus({ dataDir: dirname(realpathSync(config.dataDir)) }) : [];
  const entry: Record<string, string> = { nats: "nats-1", clickhouse: "clickhouse-s1r1" };
  const pidOf = (name: string) =>
    onCluster && entry[name]
      ? nodes.find((n) => n.name === entry[name])?.pid
      : stack.services.find((s) => s.name === name)?.pid;
  const log = createLogger("bench", "warn");
  await settleAfterDrops(config.dataDir);
  const fsWarning = journallessExt4Warning(realpathSync(config.dataDir));
  await migrateAll(config, log);
  const started = new Date();
  // PostgreSQL serves each connection from a child of its postmaster: measure the whole tree.
  const trees = { postgres: pidOf("postgres") };
  const stackPids = {
    clickhouse: pidOf("clickhouse"),
    nats: pidOf("nats"),
    postgres: pidOf("postgres"),
    redis: pidOf("redis"),
  };

  // What the machine is busy with before anything of ours runs: others' work makes the ratios unreliable.
  const idleMeter = startCpuMeter({});
  await new Promise((r) => setTimeout(r, 2_000));
  const busyBefore = idleMeter().machine;
  const busy = busyWarning(busyBefore, cpus().length);
  if (busy) console.error(busy);

  console.error("(a) ClickHouse's ceiling: bulk inserts straight into metrics_quality …");
  const ceiling = await measureRawCeiling(config, Math.min(15, settings.durationSeconds), stackPids);

  console.error("(b) the pipeline: ingest + processor …");
  const ingest = await startIngest(ENV);
  const processor = await startProcessor();
  const instances = await registerInstances(ingest.url, settings.instances);
  const ids = instances.map((i) => i.instanceId);
  const fleet = createFleet(instances);
  const watchPipeline = { processor: processor.pid, ...stackPids };
  // The ingest as a tree: with SMSTATS_INGEST_PROCESSES > 1 its workers are children of the pid started.
  const pipelineTrees = { ...trees, ingest: ingest.pid };
  const visibility = (baseRows: number) => ({
    count: () => visibleRows(ids),
    maxWaitSeconds: 180,
    baseRows,
  });
  const max = await runPhase({
    name: "max",
    url: ingest.url,
    connections: settings.connections,
    durationSeconds: settings.durationSeconds,
    next: () => fleet.next("json"),
    watch: watchPipeline,
    watchTrees: pipelineTrees,
    visibility: visibility(await visibleRows(ids)),
  });
  // Sustained end-to-end rate: everything accepted, over the time until the last of it was visible.
  const e2eBatchesPerS = max.allVisibleAtMs
    ? max.accepted / (max.allVisibleAtMs / 1000)
    : max.accepted / max.seconds;
  const halfRate = Math.max(1, Math.floor(e2eBatchesPerS / 2));
  console.error(`    … then at half that rate, ${halfRate} batches/s`);
  // Resets ingest's event-loop delay histogram (prom-client does on every scrape) and notes its GC so far.
  const loopBefore = await loopStats(ingest.metricsUrl);
  const half = await runPhase({
    name: `half (${halfRate}/s)`,
    url: ingest.url,
    connections: settings.connections,
    durationSeconds: settings.durationSeconds,
    overallRate: halfRate,
    next: () => fleet.next("json"),
    watch: watchPipeline,
    watchTrees: pipelineTrees,
    visibility: visibility(await visibleRows(ids)),
  });
  const loopAfter = await loopStats(ingest.metricsUrl);
  // Per batch: rows stored and distinct rows. An accepted batch missing rows is loss; a row stored twice is
  // a duplicate. Batches stored without an answer seen were in flight when a phase stopped (not loss).
  // The phases' visibility waits count rows, which those in-flight batches inflate: before anything is
  // called lost, wait (up to 120 s, the processor still running) until every accepted batch id is stored.
  const acceptedIds = new Set([...max.acceptedIds, ...half.acceptedIds]);
  const integrity = async () => {
    const stored = new Map<string, { n: number; u: number }>();
    for (const r of await ch.rows<{ batch_id: string; n: string; u: string }>(
      `SELECT batch_id, count() AS n, uniqExact(row_index) AS u FROM metrics_quality WHERE instance_id IN (${ids.map((i) => sqlString(i)).join(", ")}) GROUP BY batch_id`,
    )) {
      stored.set(r.batch_id, { n: Number(r.n), u: Number(r.u) });
    }
    let lost = 0;
    let duplicated = 0;
    for (const id of acceptedIds)
      lost += METRICS_PER_BATCH - Math.min(METRICS_PER_BATCH, stored.get(id)?.u ?? 0);
    for (const { n, u } of stored.values()) duplicated += n - u;
    return { stored, lost, duplicated };
  };
  const settleBy = performance.now() + 120_000;
  let checked = await integrity();
  let lateBatchesWaitedMs = 0;
  while (checked.lost > 0 && performance.now() < settleBy) {
    await new Promise((r) => setTimeout(r, 1_000));
    lateBatchesWaitedMs += 1_000;
    checked = await integrity();
  }
  const { stored, lost, duplicated } = checked;
  if (lateBatchesWaitedMs)
    console.error(`    (waited ${lateBatchesWaitedMs / 1000} s for accepted batches still on their way)`);
  const unanswered = [...stored.keys()].filter((id) => !acceptedIds.has(id)).length;
  const expectedRows = acceptedIds.size * METRICS_PER_BATCH;
  await processor.stop();
  await ingest.stop();

  console.error("(c) a handler inserting each request into ClickHouse …");
  const directCh = await startDirect("clickhouse");
  const chDirect = await runPhase({
    name: "direct ClickHouse",
    url: directCh.url,
    connections: settings.connections,
    durationSeconds: Math.min(settings.durationSeconds, 15),
    next: () => fleet.next("json"),
    watch: { direct: directCh.pid, ...stackPids },
    watchTrees: trees,
  });
  await directCh.stop();
  console.error("    … and into PostgreSQL (the design's plan: token and signature checks, indexed table)");
  const directPg = await startDirect("postgres");
  const pgDirect = await runPhase({
    name: "direct PostgreSQL",
    url: directPg.url,
    connections: settings.connections,
    durationSeconds: Math.min(settings.durationSeconds, 15),
    next: () => fleet.next("json"),
    watch: { direct: directPg.pid, ...stackPids },
    watchTrees: trees,
  });
  await directPg.stop();

  const perS = (p: PhaseResult) => (p.accepted * METRICS_PER_BATCH) / p.seconds;
  const b = e2eBatchesPerS * METRICS_PER_BATCH;
  const lags = lagsMs(half).sort((x, y) => x - y);
  const maxLags = lagsMs(max).sort((x, y) => x - y);
  const phases = { max, half, chDirect, pgDirect };
  const report = {
    started: started.toISOString(),
    settings,
    machine: { note: "2 shared cores; other engineers' work runs beside: figures are indicative" },
    metricsPerS: {
      a_clickhouse_raw: ceiling.rowsPerSecond,
      b_pipeline_end_to_end: b,
      b_ingest_accept_at_max: perS(max),
      c_direct_clickhouse: perS(chDirect),
      c_direct_postgres: perS(pgDirect),
    },
    ratios: {
      b_over_a: b / ceiling.rowsPerSecond,
      b_over_c_clickhouse: b / perS(chDirect),
      b_over_c_postgres: b / perS(pgDirect),
    },
    targets: pipelineTargets({
      aCeilingPerS: ceiling.rowsPerSecond,
      bPipelinePerS: b,
      cClickHousePerS: perS(chDirect),
      cPostgresPerS: perS(pgDirect),
      ingestP99MsAtHalf: half.latencyMs.p99,
      lagP99MsAtHalf: quantile(lags, 0.99),
      lost,
      duplicated,
    }),
    machineBusyBeforeCores: busyBefore,
    machineIdleBeforeCores: busyBefore === undefined ? undefined : cpus().length - busyBefore,
    cpuMicrosPerMetric: {
      a: cpuMicrosPerMetric(ceiling.cpu, ceiling.seconds, ceiling.rows),
      ...Object.fromEntries(
        Object.entries(phases).map(([k, p]) => [
          k,
          cpuMicrosPerMetric(p.cpu, p.cpuSeconds, p.accepted * METRICS_PER_BATCH),
        ]),
      ),
    },
    ingestLatencyMsAtHalf: half.latencyMs,
    stallsAtHalf: {
      ingestLoopDelayMaxMs: loopAfter?.lagMaxMs,
      ingestLoopDelayP99Ms: loopAfter?.lagP99Ms,
      ingestGc: gcBetween(loopBefore, loopAfter),
      ingestStoreWaits: waitsBetween(loopBefore, loopAfter),
      generator: half.generator,
    },
    ingestLatencyMsAtMax: max.latencyMs,
    lagMs: {
      half: { p50: quantile(lags, 0.5), p99: quantile(lags, 0.99), resolutionMs: 250 },
      max: { p50: quantile(maxLags, 0.5), p99: quantile(maxLags, 0.99), resolutionMs: 250 },
    },
    integrity: {
      acceptedBatches: acceptedIds.size,
      answersWithoutBatchId: max.accepted + half.accepted - acceptedIds.size,
      expectedRows,
      lost,
      duplicated,
      storedBatchesInFlightAtStop: unanswered,
      lateBatchesWaitedMs,
    },
    refused: Object.fromEntries(Object.entries(phases).map(([k, p]) => [k, p.refused])),
    cpuCores: {
      a: ceiling.cpu,
      ...Object.fromEntries(Object.entries(phases).map(([k, p]) => [k, p.cpu])),
    },
    timelines: Object.fromEntries(
      [max, half].map((p) => [
        p.name,
        { acceptedAtMs: p.acceptedAtMs, visibleSamples: p.visibleSamples, allVisibleAtMs: p.allVisibleAtMs },
      ]),
    ),
  };

  const outDir = join(config.dataDir, "bench");
  mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const jsonPath = join(outDir, `pipeline-${stamp}.json`);
  const svgPath = join(outDir, `pipeline-${stamp}.svg`);
  writeFileSync(jsonPath, JSON.stringify(report, null, 2));
  const maxSeries = seriesOf(max, 0, METRICS_PER_BATCH);
  const halfSeries = seriesOf(half, maxSeries.acceptedPerS.length + 2, METRICS_PER_BATCH);
  writeFileSync(
    svgPath,
    renderChart([maxSeries, halfSeries], `Pipeline: accept vs visible, ${started.toISOString()}`),
  );

  const cpu = (c: typeof max.cpu) =>
    [
      `gen ${fmt(c.generator, 2)}${c.generator > 0.9 ? " (SATURATED)" : ""}`,
      ...Object.entries(c.others).map(([k, v]) => `${k} ${fmt(v, 2)}`),
      `box ${fmt(c.machine, 2)}`,
      // What the box spent beyond the processes above: other people's work on the shared machine.
      `not ours ≈ ${fmt(
        c.machine === undefined
          ? undefined
          : c.machine - c.generator - Object.values(c.others).reduce<number>((a, v) => a + (v ?? 0), 0),
        2,
      )}`,
    ].join(", ");
  const lines = [
    "",
    `machine before the run: ${fmt(busyBefore, 2)} of ${cpus().length} cores busy, idle ${fmt(
      busyBefore === undefined ? undefined : cpus().length - busyBefore,
      2,
    )}${busy ? "  — NOT A QUIET MACHINE: the ratios below do not judge the targets" : ""}`,
    ...(fsWarning ? [fsWarning] : []),
    "",
    "what                                          metrics/s",
    `(a) ClickHouse bulk insert, raw ceiling   ${fmt(ceiling.rowsPerSecond).padStart(12)}`,
    `(b) pipeline, HTTP accept → visible        ${fmt(b).padStart(12)}`,
    `    ingest accepting at max                ${fmt(perS(max)).padStart(12)}`,
    `(c) per-request insert into ClickHouse     ${fmt(perS(chDirect)).padStart(12)}`,
    `(c) the design's PostgreSQL plan           ${fmt(perS(pgDirect)).padStart(12)}   (token + signature, indexed table)`,
    "",
    "issue 19's targets (this run):",
    ...renderTargets(report.targets),
    "",
    `ingest latency at half the max rate (${halfRate} batches/s): p50 ${fmt(half.latencyMs.p50, 1)} ms, p99 ${fmt(half.latencyMs.p99, 1)} ms; at max: p99 ${fmt(max.latencyMs.p99, 1)} ms`,
    `  during it: ingest's event-loop delay max ${fmt(loopAfter?.lagMaxMs ?? Number.NaN, 1)} ms, p99 ${fmt(loopAfter?.lagP99Ms ?? Number.NaN, 1)} ms; ingest GC ${gcBetween(loopBefore, loopAfter)}; ingest waited on ${waitsBetween(loopBefore, loopAfter)}; the generator (paced, latency counted from each request's due time) sent behind schedule by p99 ${half.generator?.slipP99Ms ?? "?"} ms, max ${half.generator?.slipMaxMs ?? "?"} ms, its own event-loop delay max ${half.generator?.loopDelayMaxMs ?? "?"} ms`,
    `accept → visible lag at half rate: p50 ${fmt(report.lagMs.half.p50)} ms, p99 ${fmt(report.lagMs.half.p99)} ms; at max: p50 ${fmt(report.lagMs.max.p50)} ms, p99 ${fmt(report.lagMs.max.p99)} ms (±250 ms polling)`,
    `lost ${lost}, duplicated ${duplicated} of ${expectedRows} accepted metrics${acceptedIds.size === max.accepted + half.accepted ? "" : " (SOME ANSWERS NAMED NO BATCH)"}; ${unanswered} more batches were in flight when a phase stopped and are stored`,
    `refused: ${JSON.stringify(report.refused)}`,
    "",
    "CPU per accepted metric, µs (each process, and the whole box incl. others' work):",
    ...Object.entries(report.cpuMicrosPerMetric).map(
      ([k, per]) =>
        `  ${k}: ${Object.entries(per)
          .map(([name, v]) => `${name} ${fmt(v, 2)}`)
          .join(", ")}`,
    ),
    "",
    "CPU, cores (gen = this process, the load generator; box = whole machine; not ours = box minus the rest):",
    `  (a) ${cpu(ceiling.cpu)}`,
    ...Object.entries(phases).map(([k, p]) => `  ${k}: ${cpu(p.cpu)}`),
    "",
    `report ${jsonPath}`,
    `chart  ${svgPath}`,
  ];
  console.log(lines.join("\n"));
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
} finally {
  await stopAll();
  // Nothing of the run stays behind: its stream (which reserves JetStream space), its ClickHouse database
  // (millions of rows per run) and the PostgreSQL alternative's table. The next run migrates afresh.
  await removeNamespaceStreams(ENV).catch((err) =>
    console.error(`could not delete the bench streams: ${err}`),
  );
  await ch
    .exec(
      `DROP DATABASE IF EXISTS ${sqlIdentifier(config.clickhouse.database)}${config.clickhouse.cluster ? ` ON CLUSTER ${sqlIdentifier(config.clickhouse.cluster)}` : ""}`,
    )
    .catch((err) => console.error(`could not drop ${config.clickhouse.database}: ${err}`));
  // Even when the answer timed out: the server goes on deleting the files.
  noteDrop(config.dataDir);
  await ch.close().catch(() => {});
  const pool = createPgPool(config.postgres.url, "bench-cleanup", 1);
  await pool.query(`DROP TABLE IF EXISTS ${DIRECT_PG_TABLE}`).catch(() => {});
  await pool.end();
}

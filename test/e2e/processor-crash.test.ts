import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { seedBody, testIngest } from "../support/app.ts";
import { TEST_ENV } from "../support/env.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

// kill -9 of a processor in the middle of a load, twice, then a clean one finishes: every metric that
// got a 202 must be in ClickHouse, and re-inserts of what a killed processor had inserted but not
// acknowledged must not show as duplicates. Small, fast flushes make the kill likely to land between an
// insert and its acks.
const config = loadConfig();
const ch: ClickHouseExecutor = serverExecutor(config.clickhouse);
let app: FastifyInstance;
let deps: IngestDeps;
let instance: TestInstance;
const children: ChildProcess[] = [];

interface Processor {
  child: ChildProcess;
  port: number;
  output: () => string;
}

// Set when the file ends: a test body still running after its timeout must not start a processor that
// nothing would stop (an orphan consumes the test stream and fails the files that run after this one).
let ended = false;

async function startProcessor(): Promise<Processor> {
  const port = await freePort();
  if (ended) throw new Error("the test file has ended");
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "processors/main.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...TEST_ENV,
      SMSTATS_PROCESSOR_PORT: String(port),
      SMSTATS_PROCESSOR_WORKERS: "2",
      SMSTATS_PROCESSOR_BATCH_MESSAGES: "50",
      SMSTATS_PROCESSOR_FLUSH_ROWS: "500",
      SMSTATS_PROCESSOR_FLUSH_AGE_MS: "100",
      SMSTATS_RETENTION_INTERVAL_MS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`processor exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`processor not ready:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return { child, port, output: () => out };
    await new Promise((r) => setTimeout(r, 100));
  }
}

function kill9(p: Processor): Promise<void> {
  return new Promise((resolve) => {
    p.child.once("exit", () => resolve());
    p.child.kill("SIGKILL");
  });
}

beforeAll(async () => {
  ({ app, deps } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }));
  instance = await registerInstance(app);
});
afterAll(async () => {
  ended = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await app?.close();
  await deps?.close();
  await ch.close();
});

describe("a processor killed with -9 mid-load", () => {
  it("loses no accepted metric and stores none twice after restarts", async () => {
    const id = instance.instanceId;
    const accepted = new Map<string, number>();
    let sending = true;
    let sent = 0;
    const clients = Array.from({ length: 3 }, async (_, c) => {
      for (let i = 0; sending && i < 20_000; i++) {
        const batchId = `k${c}-${i}`;
        const metrics = Array.from({ length: 10 + (i % 11) }, (_, k) => ({
          name: `crash_metric_${k % 4}`,
          value: i * 100 + k,
        }));
        sent++;
        const res = await postBatch(app, instance, { ...seedBody(id), batch_id: batchId, metrics });
        if (res.statusCode === 202) accepted.set(batchId, metrics.length);
      }
    });
    let p = await startProcessor();
    for (let kill = 0; kill < 2; kill++) {
      await new Promise((r) => setTimeout(r, 1_500 + kill * 700));
      await kill9(p);
      p = await startProcessor();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    sending = false;
    await Promise.all(clients);
    const expected = [...accepted.values()].reduce((a, b) => a + b, 0);
    expect(accepted.size).toBeGreaterThan(100);

    const counts = async () => {
      const [r] = await ch.rows<{ rows: string; distinct_rows: string; batches: string }>(
        `SELECT count() AS rows, uniqExact(batch_id, row_index) AS distinct_rows, uniqExact(batch_id) AS batches
         FROM metrics_quality WHERE instance_id = ${sqlString(id)}`,
      );
      return { rows: Number(r?.rows), distinct: Number(r?.distinct_rows), batches: Number(r?.batches) };
    };
    const deadline = Date.now() + 60_000;
    let got = await counts();
    while (got.distinct < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      got = await counts();
    }
    // Messages a killed worker held come back only after the consumer's ack_wait: wait until JetStream
    // has nothing left to deliver or to be acknowledged, so a duplicate they would cause is counted too.
    const settled = Date.now() + 60_000;
    for (;;) {
      const info = await deps.jsm.consumers.info(config.nats.stream, config.nats.consumer);
      if (info.num_pending === 0 && info.num_ack_pending === 0) break;
      if (Date.now() > settled)
        throw new Error(`consumer not settled: ${JSON.stringify(info.num_ack_pending)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    got = await counts();
    // Every acknowledged message left the work-queue stream.
    let stream = await deps.jsm.streams.info(config.nats.stream);
    while (stream.state.messages > 0 && Date.now() < settled + 15_000) {
      await new Promise((r) => setTimeout(r, 500));
      stream = await deps.jsm.streams.info(config.nats.stream);
    }
    expect(stream.state.messages, "stream empty after the drain").toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    const skipped = Number(
      /smstats_component_dropped_total\{[^}]*component="clickhouse_sink"[^}]*reason="already_inserted"[^}]*\} (\d+)/.exec(
        metrics,
      )?.[1] ?? 0,
    );
    console.info(
      `crash test: ${sent} batches sent, ${accepted.size} got 202 (${expected} metrics); stored ${got.rows} rows, ` +
        `${got.distinct} distinct, ${got.rows - got.distinct} duplicates; ${skipped} re-delivered rows skipped as already inserted by the last processor`,
    );
    // The lag gauges read from JetStream at scrape time say the same: nothing waits.
    expect(metrics).toMatch(/smstats_jetstream_consumer_pending_messages\{[^}]*\} 0\n/);
    expect(metrics).toMatch(/smstats_jetstream_dead_letters\{[^}]*\} \d+\n/);
    // The processor's own /metrics lists every step's counters (the step runner's).
    for (const step of ["decode", "enrich", "anonymize", "downsample", "route"])
      for (const counter of ["received", "sent"])
        expect(metrics).toMatch(
          new RegExp(
            `smstats_component_${counter}_total\\{[^}]*component="${step}_step",unit="batches"[^}]*\\} \\d+\\n`,
          ),
        );
    expect(got.batches, "every batch that got a 202 is stored").toBe(accepted.size);
    expect(got.distinct, "every accepted metric is stored").toBe(expected);
    expect(got.rows - got.distinct, "duplicates").toBe(0);
  }, 180_000);
});

import { readFileSync } from "node:fs";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { createProcessorDeps, type ProcessorDeps } from "../../processors/deps.ts";
import { METRICS_BATCH_SCHEMA, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";
import { uniqueId } from "../support/app.ts";
import { freshBatch } from "../support/batches.ts";
import { nsName } from "../support/env.ts";
import { startProcessor, stopProcessor, type TestProcessor } from "../support/processor.ts";

/** The resident-memory ceiling processors/README.md documents for a processor with default settings. */
const RSS_CEILING_MB = 768;

// 1,000-metric batches, 300 of them waiting before the processor starts (the case that made inserts of
// 501k rows and 2.3–2.5 GB RSS): with default settings every insert holds at most flushRows rows plus
// one message's (the threshold is checked as each message arrives), and the process stays under the
// documented ceiling while it drains them.
// Its own ClickHouse database, dropped afterwards: 300,000 rows would slow every later suite that reads
// the test database whole.
const env = {
  SMSTATS_CLICKHOUSE_DATABASE: nsName(`smstats_memtest_${process.pid}`),
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_MEMORY_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("memtest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_memory_test"),
  SMSTATS_LOG_LEVEL: "debug",
};
const config: Readonly<Config> = loadConfig({ ...process.env, ...env });
const log = createLogger("memory-test", "silent");
const ch = serverExecutor(config.clickhouse);
let deps: ProcessorDeps | undefined;
let jsm: JetStreamManager;
let js: JetStreamClient;
let processor: TestProcessor | undefined;

beforeAll(async () => {
  await ch.ensureDatabase();
  await migrateClickHouse(ch);
  deps = await createProcessorDeps(config, log);
  ({ jsm, js } = deps);
  await jsm.streams.purge(config.nats.stream);
});
afterAll(async () => {
  if (processor) await stopProcessor(processor);
  await jsm?.streams.delete(config.nats.stream).catch(() => undefined);
  await jsm?.streams.delete(deadLetterStreamName(config.nats)).catch(() => undefined);
  await deps?.close();
  await ch
    .exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(config.clickhouse.database)}`)
    .catch(() => undefined);
  await ch.close();
});

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
};

describe("processor memory with 1,000-metric batches", () => {
  it("inserts at most flushRows plus one message's rows per flush and stays under the documented RSS ceiling", async () => {
    const d = deps as ProcessorDeps;
    const { rows } = await d.pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("mem-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const schema = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);
    const batches = 300;
    const perBatch = 1_000;
    for (let i = 0; i < batches; i++) {
      const batch = freshBatch("quality", instanceId, `m-${i}`);
      batch.metrics = Array.from({ length: perBatch }, (_, k) => ({
        name: `memory_test_${k % 20}`,
        value: i * perBatch + k,
        tags: { operation: `op-${k % 7}`, source: "memory-test" },
        time_ms: null,
      }));
      await js.publish(batchSubject(config.nats), schema.type.toBuffer(batch), {
        headers: h,
        msgID: `${instanceId}:${batch.batch_id}`,
      });
    }
    const expected = batches * perBatch;
    processor = await startProcessor(env);
    const pid = processor.child.pid as number;
    let peak = rssMb(pid);
    const count = () =>
      ch
        .rows<{ n: string }>(
          `SELECT count() AS n FROM metrics_quality WHERE instance_id = ${sqlString(instanceId)}`,
        )
        .then((r) => Number(r[0]?.n));
    const started = Date.now();
    let stored = 0;
    while (stored < expected && Date.now() - started < 120_000) {
      for (let i = 0; i < 5; i++) {
        peak = Math.max(peak, rssMb(pid));
        await new Promise((r) => setTimeout(r, 100));
      }
      stored = await count();
    }
    const seconds = (Date.now() - started) / 1000;
    const flushes = processor
      .output()
      .split("\n")
      .filter((l) => l.includes('"msg":"flushed"'))
      .map((l) => JSON.parse(l) as { rows: number; bytes: number; messages: number });
    const maxRows = Math.max(...flushes.map((f) => f.rows));
    const maxBytes = Math.max(...flushes.map((f) => f.bytes));
    console.info(
      `memory test: ${expected} rows in ${batches} batches of ${perBatch} drained in ${seconds.toFixed(1)} s; ` +
        `${flushes.length} flushes, largest ${maxRows} rows / ${(maxBytes / 1e6).toFixed(1)} MB; peak RSS ${peak.toFixed(0)} MB ` +
        `(ceiling ${RSS_CEILING_MB} MB)`,
    );
    expect(stored).toBe(expected);
    expect(flushes.length).toBeGreaterThan(0);
    expect(maxRows).toBeLessThanOrEqual(config.processor.flushRows + perBatch);
    expect(maxBytes).toBeLessThanOrEqual(config.processor.flushBytes + 200_000);
    expect(peak).toBeLessThan(RSS_CEILING_MB);
    let stream = await jsm.streams.info(config.nats.stream);
    for (let i = 0; i < 40 && stream.state.messages > 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      stream = await jsm.streams.info(config.nats.stream);
    }
    expect(stream.state.messages, "stream empty after the drain").toBe(0);
  }, 170_000);
});

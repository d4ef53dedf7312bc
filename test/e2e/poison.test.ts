import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { createProcessorDeps, type ProcessorDeps } from "../../processors/deps.ts";
import { listDeadLetters } from "../../processors/dlq/index.ts";
import { startTopology } from "../../processors/topology.ts";
import { METRICS_BATCH_SCHEMA, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";
import { uniqueId } from "../support/app.ts";
import { freshBatch } from "../support/batches.ts";
import { nsName } from "../support/env.ts";
import { storedBatchIdOf } from "../support/stored-ids.ts";

// One batch ClickHouse refuses (a negative count for an unsigned column, code 72 on 18.16), published
// straight to the stream as a client's Avro body that got past ingest would be, among 50 valid ones:
// the sink must find it by splitting its buffer, dead-letter it alone with ClickHouse's reason and
// store the 50 within the usual lag.
const config: Readonly<Config> = loadConfig({
  ...process.env,
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_POISON_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("poisontest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_poison_test"),
  SMSTATS_PROCESSOR_WORKERS: "1",
});
const log = createLogger("poison-test", (process.env.SMTEST_LOG as "warn") ?? "silent");
const ch = serverExecutor(config.clickhouse);
let deps: ProcessorDeps | undefined;
let jsm: JetStreamManager;
let js: JetStreamClient;

beforeAll(async () => {
  deps = await createProcessorDeps(config, log);
  ({ jsm, js } = deps);
  await jsm.streams.purge(config.nats.stream);
  await jsm.streams.purge(deadLetterStreamName(config.nats));
});
afterAll(async () => {
  await jsm?.streams.delete(config.nats.stream).catch(() => undefined);
  await jsm?.streams.delete(deadLetterStreamName(config.nats)).catch(() => undefined);
  await deps?.close();
  await ch.close();
});

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

describe("a batch ClickHouse refuses", () => {
  it("is dead-lettered alone with the server's reason while the 50 around it are stored within the usual lag", async () => {
    const d = deps as ProcessorDeps;
    const { rows } = await d.pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("poison-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const schema = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);
    const processor = await startTopology({
      ...d,
      config,
      log,
      metrics: new Registry(),
      schemas: new SchemaRegistry(),
    });
    try {
      const started = Date.now();
      const badId = uniqueId("bad");
      for (let i = 0; i < 51; i++) {
        const batch = freshBatch("library", instanceId, i === 25 ? badId : `ok-${i}`);
        if (i === 25) (batch.library[0] as { total_songs: number }).total_songs = -5;
        await js.publish(batchSubject(config.nats), schema.type.toBuffer(batch), {
          headers: h,
          msgID: `${instanceId}:${batch.batch_id}`,
        });
      }
      const stored = () =>
        ch
          .rows<{ n: string }>(
            `SELECT uniqExact(batch_id) AS n FROM snapshots_library WHERE instance_id = ${sqlString(instanceId)}`,
          )
          .then((r) => Number(r[0]?.n));
      const n = await until(stored, (v) => v >= 50, 15_000);
      const lagMs = Date.now() - started;
      const letters = await until(
        () => listDeadLetters(jsm, config.nats, 100, d.box),
        (l) => l.length >= 1,
        10_000,
      );
      console.info(
        `poison test: 50 valid batches stored ${lagMs} ms after publishing; dead letters ${letters.length}`,
      );
      expect(n).toBe(50);
      // The usual lag: a flush age (1 s) plus a fetch wait (1 s), with room for a busy machine.
      expect(lagMs).toBeLessThan(5_000);
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ reason: "clickhouse_refused" });
      expect(letters[0]?.detail).toMatch(/ClickHouse code \d+ \([A-Z_]+\)/);
      const badRows = await ch.rows<{ n: string }>(
        `SELECT count() AS n FROM snapshots_library WHERE batch_id = ${sqlString((await storedBatchIdOf())(instanceId, badId))}`,
      );
      expect(Number(badRows[0]?.n)).toBe(0);
      // Every message left the stream: the 50 acknowledged after their insert, the bad one after the DLQ had it.
      const info = await until(
        () => jsm.streams.info(config.nats.stream),
        (i) => i.state.messages === 0,
        10_000,
      );
      expect(info.state.messages).toBe(0);
    } finally {
      await processor.stop();
    }
  });
});

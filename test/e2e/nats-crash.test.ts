import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { seedBody, testIngest } from "../support/app.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";
import { counterValue, startProcessor, stopProcessor, type TestProcessor } from "../support/processor.ts";
import { kill9, restartStack } from "../support/stack-faults.ts";

// kill -9 of nats-server under load, three times, each followed by a restart of this checkout's NATS:
// clients retry what did not get a 202 (same batch id), as the README tells them to. Every batch that
// got a 202 must be stored exactly once, although NATS comes back having lost acks (first deliveries
// of batches already inserted) and messages it deleted no longer guard their ids (client retries).
// Then 40 stored batches are sent again by their clients: still stored once. The stream must be
// empty after the load drains.
const config = loadConfig();
const ch: ClickHouseExecutor = serverExecutor(config.clickhouse);
let app: FastifyInstance;
let deps: IngestDeps;
let instance: TestInstance;
let processor: TestProcessor | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ({ app, deps } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }));
  instance = await registerInstance(app);
});
afterAll(async () => {
  await restartStack();
  if (processor) await stopProcessor(processor);
  await app?.close();
  await deps?.close();
  await ch.close();
});

function body(batchId: string, i: number) {
  return {
    ...seedBody(instance.instanceId),
    batch_id: batchId,
    metrics: Array.from({ length: 5 + (i % 11) }, (_, k) => ({
      name: `nats_crash_${k % 4}`,
      value: i * 100 + k,
    })),
  };
}

/** Posts until 202 (a client keeps its batch and retries on 503 and on a lost connection). */
async function deliver(batchId: string, i: number, until: number): Promise<boolean> {
  while (Date.now() < until) {
    const res = await postBatch(app, instance, body(batchId, i)).catch(() => undefined);
    if (res?.statusCode === 202) return true;
    await sleep(100);
  }
  return false;
}

async function counts() {
  const [r] = await ch.rows<{ rows: string; distinct_rows: string; batches: string }>(
    `SELECT count() AS rows, uniqExact(batch_id, row_index) AS distinct_rows, uniqExact(batch_id) AS batches
     FROM metrics_quality WHERE instance_id = ${sqlString(instance.instanceId)}`,
  );
  return { rows: Number(r?.rows), distinct: Number(r?.distinct_rows), batches: Number(r?.batches) };
}

/** Waits until JetStream has nothing left to deliver or to be acknowledged, and the stream is empty. */
async function drained(ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await deps.jsm.consumers
      .info(config.nats.stream, config.nats.consumer)
      .catch(() => undefined);
    const stream = await deps.jsm.streams.info(config.nats.stream).catch(() => undefined);
    if (info && stream && info.num_pending === 0 && info.num_ack_pending === 0 && stream.state.messages === 0)
      return stream.state.messages;
    if (Date.now() > deadline)
      return `pending ${info?.num_pending} ack pending ${info?.num_ack_pending} stream ${stream?.state.messages}`;
    await sleep(250);
  }
}

describe("nats-server killed with -9 under load", () => {
  it("stores every batch answered 202 exactly once over three crashes, and client retries of stored batches once", async () => {
    processor = await startProcessor({
      SMSTATS_PROCESSOR_WORKERS: "2",
      SMSTATS_PROCESSOR_BATCH_MESSAGES: "50",
      SMSTATS_PROCESSOR_FLUSH_ROWS: "500",
      SMSTATS_PROCESSOR_FLUSH_AGE_MS: "100",
    });
    const accepted = new Map<string, number>();
    const lost: string[] = [];
    let sending = true;
    const clients = Array.from({ length: 3 }, async (_, c) => {
      for (let i = 0; sending; i++) {
        const batchId = `n${c}-${i}`;
        if (await deliver(batchId, i, Date.now() + 30_000))
          accepted.set(batchId, body(batchId, i).metrics.length);
        else lost.push(batchId);
      }
    });
    const crashes: number[] = [];
    for (let run = 0; run < 3; run++) {
      await sleep(1_500 + run * 300);
      crashes.push(await kill9("nats"));
      await sleep(300);
      const t = Date.now();
      await restartStack();
      console.info(
        `nats crash test: crash ${run + 1}, NATS back in ${Date.now() - t} ms, ${accepted.size} accepted so far`,
      );
    }
    await sleep(1_500);
    sending = false;
    await Promise.all(clients);
    const expected = [...accepted.values()].reduce((a, b) => a + b, 0);
    expect(lost, "batches that never got a 202 within 30 s").toEqual([]);
    expect(accepted.size).toBeGreaterThan(50);

    // Messages delivered before a crash whose acks NATS lost come back after the consumer's ack_wait.
    const drainStarted = Date.now();
    const left = await drained(90_000);
    console.info(`nats crash test: drained in ${Date.now() - drainStarted} ms`);
    const got = await counts();
    const skippedAfterCrash = counterValue(await processor.metrics(), "smstats_component_dropped_total", {
      component: "clickhouse_sink",
      reason: "already_inserted",
    });
    console.info(
      `nats crash test: ${crashes.length} kill -9 (pids ${crashes.join(", ")}); ${accepted.size} batches got 202 ` +
        `(${expected} metrics); stored ${got.rows} rows, ${got.distinct} distinct, ${got.rows - got.distinct} duplicates; ` +
        `${skippedAfterCrash} rows skipped as already stored; stream after drain: ${left}`,
    );
    expect(left, "stream and consumer drained").toBe(0);
    expect(got.batches, "every batch that got a 202 is stored").toBe(accepted.size);
    expect(got.distinct, "every accepted metric is stored").toBe(expected);
    expect(got.rows - got.distinct, "duplicates").toBe(0);

    // Clients that never saw their 202 send the same batches again, after one more restart (NATS
    // keeps no ids of the messages its work queue deleted).
    await kill9("nats");
    await restartStack();
    const retried = [...accepted.keys()].slice(0, 40);
    let natsDuplicates = 0;
    for (const id of retried) {
      const i = Number(id.split("-")[1]);
      let res = await postBatch(app, instance, body(id, i)).catch(() => undefined);
      for (let t = 0; res?.statusCode !== 202 && t < 100; t++) {
        await sleep(100);
        res = await postBatch(app, instance, body(id, i)).catch(() => undefined);
      }
      expect(res?.statusCode).toBe(202);
      if (res?.json().duplicate) natsDuplicates++;
    }
    const leftAfterRetries = await drained(30_000);
    const again = await counts();
    const skipped = counterValue(await processor.metrics(), "smstats_component_dropped_total", {
      component: "clickhouse_sink",
      reason: "already_inserted",
    });
    console.info(
      `nats crash test: 40 client retries of stored batches (NATS itself recognised ${natsDuplicates}) → ${again.rows - got.rows} rows added, ` +
        `${skipped - skippedAfterCrash} rows skipped as already stored; stream after drain: ${leftAfterRetries}`,
    );
    expect(leftAfterRetries).toBe(0);
    expect(again).toEqual(got);
  }, 170_000);
});

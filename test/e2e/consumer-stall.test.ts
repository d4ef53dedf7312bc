import { AckPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { headers, nanos } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { createProcessorDeps, type ProcessorDeps } from "../../processors/deps.ts";
import { preaggregate } from "../../processors/steps/downsample/index.ts";
import { METRICS_BATCH_SCHEMA, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";
import { uniqueId } from "../support/app.ts";
import { freshBatch } from "../support/batches.ts";
import { nsName } from "../support/env.ts";
import { counterValue, startProcessor, stopProcessor, type TestProcessor } from "../support/processor.ts";

// The stall of issue 12: after a restart the consumer came back with stale pending acknowledgements and
// delivered nothing new while batches waited. Simulated here on a running processor: the consumer's
// acknowledgement slots (max_ack_pending) are all held by deliveries to a client that never acks and
// whose ack_wait never runs out, so the processor's pulls get nothing while the stream fills. The
// processor must see it (readiness 503, the stalled gauge), re-create the consumer without a restart,
// and then store every batch once.
const env = {
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_STALL_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("stalltest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_stall_test"),
  SMSTATS_PROCESSOR_STALL_MS: "10000",
  // Small pulls: the zombie below shares the processor's consumer, and a pull of up to 500 messages took
  // nearly every message published while the zombie waited for its 20 (over 30 s on a busy machine).
  SMSTATS_PROCESSOR_BATCH_MESSAGES: "5",
};
const config: Readonly<Config> = loadConfig({ ...process.env, ...env });
const log = createLogger("stall-test", "silent");
const ch = serverExecutor(config.clickhouse);
let deps: ProcessorDeps | undefined;
let jsm: JetStreamManager;
let js: JetStreamClient;
let processor: TestProcessor | undefined;

beforeAll(async () => {
  deps = await createProcessorDeps(config, log);
  ({ jsm, js } = deps);
  await jsm.streams.purge(config.nats.stream);
});
afterAll(async () => {
  if (processor) await stopProcessor(processor);
  await jsm?.streams.delete(config.nats.stream).catch(() => undefined);
  await jsm?.streams.delete(deadLetterStreamName(config.nats)).catch(() => undefined);
  await deps?.close();
  await ch.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a consumer that stops delivering", () => {
  it("is detected within 60 s, shown by readiness, and recovered without restarting the processor", async () => {
    const d = deps as ProcessorDeps;
    const { rows } = await d.pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("stall-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const schema = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);
    let published = 0;
    let expected = 0;
    const publish = async () => {
      const batch = freshBatch("quality", instanceId, `s-${published++}`);
      expected += preaggregate(batch).batch.metrics.length;
      await js.publish(batchSubject(config.nats), schema.type.toBuffer(batch), {
        headers: h,
        msgID: `${instanceId}:${batch.batch_id}`,
      });
    };

    processor = await startProcessor(env);
    const pid = processor.child.pid;
    const ready = async () =>
      (await fetch(`http://127.0.0.1:${processor?.port}/health/ready`).catch(() => undefined))?.status ?? 0;
    expect(await ready()).toBe(200);

    // Stale deliveries hold every acknowledgement slot: a client that fetches and never acks, with an
    // ack_wait that does not run out.
    const slots = 20;
    await jsm.consumers.update(config.nats.stream, config.nats.consumer, {
      max_ack_pending: slots,
      ack_wait: nanos(3_600_000),
    });
    const info = await jsm.consumers.info(config.nats.stream, config.nats.consumer);
    expect(info.config.ack_policy).toBe(AckPolicy.Explicit);
    const zombie = await js.consumers.get(config.nats.stream, config.nats.consumer);
    const held: JsMsg[] = [];
    // A pull that misses its heartbeats on a busy machine ends with an error; the zombie pulls again
    // (an unhandled rejection here once left the publish loop below waiting until the test's timeout).
    const fillBy = Date.now() + 60_000;
    const holding = (async () => {
      while (held.length < slots && Date.now() < fillBy) {
        try {
          const iter = await zombie.fetch({ max_messages: slots - held.length, expires: 2_000 });
          for await (const m of iter) held.push(m);
        } catch {
          await sleep(100);
        }
      }
    })();
    while (held.length < slots && Date.now() < fillBy) {
      await publish();
      await sleep(20);
    }
    await holding;
    expect(held.length, "the zombie holds every acknowledgement slot").toBe(slots);
    const stallStarted = Date.now();
    for (let i = 0; i < 30; i++) await publish();

    // Readiness shows the stall while it lasts.
    let detectedMs = -1;
    let consumerCheck: unknown;
    while (Date.now() - stallStarted < 60_000) {
      const res = await fetch(`http://127.0.0.1:${processor.port}/health/ready`);
      if (res.status === 503) {
        detectedMs = Date.now() - stallStarted;
        consumerCheck = ((await res.json()) as { checks?: { consumer?: unknown } }).checks?.consumer;
        break;
      }
      await sleep(200);
    }
    const stalledMetrics = await processor.metrics();

    const count = () =>
      ch
        .rows<{ rows: string; distinct_rows: string }>(
          `SELECT count() AS rows, uniqExact(batch_id, row_index) AS distinct_rows FROM metrics_quality
           WHERE instance_id = ${sqlString(instanceId)}`,
        )
        .then((r) => ({ rows: Number(r[0]?.rows), distinct: Number(r[0]?.distinct_rows) }));
    const deadline = Date.now() + 60_000;
    let got = await count();
    while (got.distinct < expected && Date.now() < deadline) {
      await sleep(250);
      got = await count();
    }
    const recoveredMs = Date.now() - stallStarted;
    let status = await ready();
    while (status !== 200 && Date.now() < deadline) {
      await sleep(250);
      status = await ready();
    }
    const metrics = await processor.metrics();
    let stream = await jsm.streams.info(config.nats.stream);
    while (stream.state.messages > 0 && Date.now() < deadline) {
      await sleep(250);
      stream = await jsm.streams.info(config.nats.stream);
    }
    console.info(
      `stall test: ${published} batches, stall detected by readiness after ${detectedMs} ms, all stored after ` +
        `${recoveredMs} ms; ${got.rows} rows stored, ${got.distinct} distinct of ${expected}`,
    );
    expect(detectedMs).toBeGreaterThanOrEqual(0);
    expect(detectedMs).toBeLessThan(60_000);
    expect(consumerCheck).toMatchObject({ ok: false });
    expect(stalledMetrics).toMatch(/smstats_processor_consumer_stalled\{[^}]*\} 1\n/);
    expect(
      counterValue(metrics, "smstats_processor_consumer_recoveries_total", { cause: "stalled" }),
    ).toBeGreaterThanOrEqual(1);
    expect(got.distinct, "every batch stored").toBe(expected);
    expect(got.rows - got.distinct, "duplicates").toBe(0);
    expect(status, "ready again").toBe(200);
    expect(metrics).toMatch(/smstats_processor_consumer_stalled\{[^}]*\} 0\n/);
    expect(processor.child.pid, "the same process").toBe(pid);
    expect(processor.child.exitCode).toBeNull();
    expect(stream.state.messages, "stream drained").toBe(0);
    const declared = await jsm.consumers.info(config.nats.stream, config.nats.consumer);
    expect(declared.config.max_ack_pending).toBe(20_000);
  }, 260_000);
});

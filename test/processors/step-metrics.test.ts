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
import { batchToRows } from "../../processors/steps/index.ts";
import { RAW_TABLES } from "../../processors/steps/route/index.ts";
import { startTopology } from "../../processors/topology.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaRegistry,
} from "../../schemas/index.ts";
import { uniqueId } from "../support/app.ts";
import { freshBatch } from "../support/batches.ts";
import { nsName } from "../support/env.ts";

// Streams of this suite's own, so no other suite's messages reach the processor started here.
const config: Readonly<Config> = loadConfig({
  ...process.env,
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_STEPS_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("stepstest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_steps_test"),
  SMSTATS_PROCESSOR_WORKERS: "1",
});
const log = createLogger("steps-test", "silent");
const ch = serverExecutor(config.clickhouse);
const schemas = new SchemaRegistry();
const latest = schemas.latest(METRICS_BATCH_SCHEMA);
let deps: ProcessorDeps;
let jsm: JetStreamManager;
let js: JetStreamClient;

beforeAll(async () => {
  deps = await createProcessorDeps(config, log);
  ({ jsm, js } = deps);
  await jsm.streams.purge(config.nats.stream);
});
afterAll(async () => {
  await jsm?.streams.delete(config.nats.stream).catch(() => undefined);
  await jsm?.streams.delete(deadLetterStreamName(config.nats)).catch(() => undefined);
  await deps?.close();
  await ch.close();
});

const publish = (data: Uint8Array) => {
  const h = headers();
  h.set(SCHEMA_FINGERPRINT_HEADER, latest.fingerprint);
  return js.publish(batchSubject(config.nats), data, { headers: h, msgID: uniqueId("steps-msg") });
};
const encode = (batch: MetricsBatch) => latest.type.toBuffer(batch);

/** The value of one series of the registry's /metrics text (0 when absent). */
function series(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const [, inside = "", value = ""] = /^[^{]+\{(.*)\} (.+)$/.exec(line) ?? [];
    const have = inside.split(",");
    if (wanted.every((w) => have.includes(w))) return Number(value);
  }
  return 0;
}

describe("the processor's steps in /metrics", () => {
  it("counts received, sent and dropped{reason} for decode, enrich, anonymize, downsample and route", async () => {
    const { rows } = await deps.pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("steps-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const good = freshBatch("everything", instanceId, uniqueId("steps-good"));
    // Passed ingest once, unknown now (erased): enrich drops it.
    const unknown = freshBatch("quality", "00000000-0000-4000-8000-0000000000ff", uniqueId("steps-gone"));
    await publish(encode(good));
    await publish(encode(unknown));
    // Bytes that are no batch of the schema the header names: decode sets them aside.
    await publish(new Uint8Array([1, 2, 3]));

    const expectedRows = batchToRows(
      good,
      {
        instance: { tier: "starter", platform: "linux", version: "1.4.2" },
        country: "",
        secret: deps.anonymizeSecret,
      },
      Date.now(),
    );
    const total = RAW_TABLES.reduce((n, t) => n + expectedRows[t].length, 0);

    const metrics = new Registry();
    const processor = await startTopology({ ...deps, config, log, metrics, schemas });
    let text = "";
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        text = await metrics.metrics();
        const sent = series(text, "smstats_component_sent_total", { component: "clickhouse_sink" });
        const decoded = series(text, "smstats_component_received_total", { component: "decode_step" });
        if ((sent >= total && decoded >= 3) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await processor.stop();
    }
    const stored = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM metrics_quality WHERE instance_id = ${sqlString(instanceId)}`,
    );
    expect(Number(stored[0]?.n)).toBe(expectedRows.metrics_quality.length);

    const count = (metric: string, component: string, extra: Record<string, string> = {}) =>
      series(text, `smstats_component_${metric}_total`, { component, unit: "batches", ...extra });
    const steps = ["decode", "enrich", "anonymize", "downsample", "route"];
    expect(steps.map((s) => [s, count("received", `${s}_step`), count("sent", `${s}_step`)])).toEqual([
      ["decode", 3, 2],
      ["enrich", 2, 1],
      ["anonymize", 1, 1],
      ["downsample", 1, 1],
      ["route", 1, 1],
    ]);
    expect(count("dropped", "decode_step", { reason: "dead_letter:undecodable" })).toBe(1);
    expect(count("dropped", "enrich_step", { reason: "unknown_instance" })).toBe(1);
    // Reasons a step may drop for are listed before the first drop.
    expect(text).toMatch(/component="decode_step",unit="batches",reason="dead_letter:unknown_schema"\} 0/);
    expect(series(text, "smstats_component_sent_total", { component: "clickhouse_sink" })).toBe(total);
  });
});

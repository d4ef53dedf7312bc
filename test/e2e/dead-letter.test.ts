import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName, PIPELINE_HEADERS } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { createProcessorDeps, type ProcessorDeps } from "../../processors/deps.ts";
import { listDeadLetters, replayDeadLetters } from "../../processors/dlq/index.ts";
import { preaggregate } from "../../processors/steps/downsample/index.ts";
import { startTopology } from "../../processors/topology.ts";
import {
  METRICS_BATCH_SCHEMA,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaRegistry,
  telemetrySchemaDir,
} from "../../schemas/index.ts";
import { uniqueId } from "../support/app.ts";
import { freshBatch } from "../support/batches.ts";
import { nsName } from "../support/env.ts";

// Streams of this suite's own, so no other suite's messages reach the processors started here.
const config: Readonly<Config> = loadConfig({
  ...process.env,
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_DLQ_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("dlqtest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_dlq_test"),
  SMSTATS_PROCESSOR_WORKERS: "1",
});
const log = createLogger("dlq-test", "silent");
const ch = serverExecutor(config.clickhouse);
let deps: ProcessorDeps | undefined;
let jsm: JetStreamManager;
let js: JetStreamClient;

/** A processor that only knows schema v1, as one deployed before v2 existed would. */
function oldRegistry(): SchemaRegistry {
  const dir = mkdtempSync(join(tmpdir(), "smstats-old-schemas-"));
  copyFileSync(join(telemetrySchemaDir, "metrics-batch.v1.avsc"), join(dir, "metrics-batch.v1.avsc"));
  return new SchemaRegistry(dir);
}

const run = (schemas: SchemaRegistry) =>
  startTopology({ ...(deps as ProcessorDeps), config, log, metrics: new Registry(), schemas });

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    v = await fn();
  }
  return v;
}

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

describe("dead letters", () => {
  it("sets a message the processor cannot read aside with its reason, and after replay its rows appear once", async () => {
    const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
    // The processor only stores batches of instances it knows (PostgreSQL), as ingest lets only those in.
    const { rows } = await (deps as ProcessorDeps).pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("dlq-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const batch = freshBatch("quality", instanceId, uniqueId("dlq-batch"));
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, latest.fingerprint);
    await js.publish(batchSubject(config.nats), latest.type.toBuffer(batch), {
      headers: h,
      msgID: `${instanceId}:x`,
    });

    const old = await run(oldRegistry());
    const letters = await until(
      () => listDeadLetters(jsm, config.nats, 100, (deps as ProcessorDeps).box),
      (l) => l.length === 1,
    );
    await old.stop();
    expect(letters).toMatchObject([{ reason: "unknown_schema", replays: 0 }]);
    expect(letters[0]?.detail).toContain(latest.fingerprint);

    // The processor is upgraded; the operator replays.
    const upgraded = await run(new SchemaRegistry());
    const report = await replayDeadLetters(jsm, js, config.nats, {
      maxReplays: 3,
      box: (deps as ProcessorDeps).box,
    });
    expect(report.replayed).toHaveLength(1);
    const count = () =>
      ch
        .rows<{ n: string }>(
          `SELECT count() AS n FROM metrics_quality WHERE instance_id = ${sqlString(instanceId)}`,
        )
        .then((r) => Number(r[0]?.n));
    // mpv health samples of one minute are stored as one row (the downsample step).
    const expected = preaggregate(batch).batch.metrics.length;
    expect(await until(count, (n) => n >= expected)).toBe(expected);
    // Nothing left to replay, and nothing inserted twice.
    expect(await listDeadLetters(jsm, config.nats, 100, (deps as ProcessorDeps).box)).toEqual([]);
    expect(
      (await replayDeadLetters(jsm, js, config.nats, { maxReplays: 3, box: (deps as ProcessorDeps).box }))
        .replayed,
    ).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await count()).toBe(expected);
    await upgraded.stop();
  });

  it("refuses to replay a message that keeps failing more than the allowed times", async () => {
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, new SchemaRegistry().latest(METRICS_BATCH_SCHEMA).fingerprint);
    await js.publish(batchSubject(config.nats), new Uint8Array([1, 2, 3]), {
      headers: h,
      msgID: uniqueId("poison"),
    });
    const processor = await run(new SchemaRegistry());
    try {
      const first = await until(
        () => listDeadLetters(jsm, config.nats, 100, (deps as ProcessorDeps).box),
        (l) => l.length === 1,
      );
      expect(first).toMatchObject([{ reason: "undecodable", replays: 0 }]);
      expect(
        (await replayDeadLetters(jsm, js, config.nats, { maxReplays: 1, box: (deps as ProcessorDeps).box }))
          .replayed,
      ).toHaveLength(1);
      const again = await until(
        () => listDeadLetters(jsm, config.nats, 100, (deps as ProcessorDeps).box),
        (l) => l.length === 1,
      );
      expect(again).toMatchObject([{ reason: "undecodable", replays: 1 }]);
      const refused = await replayDeadLetters(jsm, js, config.nats, {
        maxReplays: 1,
        box: (deps as ProcessorDeps).box,
      });
      expect(refused).toEqual({ replayed: [], refused: [{ seq: again[0]?.seq, replays: 1 }] });
    } finally {
      await processor.stop();
    }
  });

  it("keeps no clear address, title, user id or path in the dead-letter stream, and the sealed letter replays", async () => {
    const d = deps as ProcessorDeps;
    await jsm.streams.purge(deadLetterStreamName(config.nats));
    const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
    const { rows } = await d.pg.query<{ id: string }>(
      "INSERT INTO instances (hwid, platform, version) VALUES ($1, 'linux', '1.4.2') RETURNING id",
      [uniqueId("dlq-seal-hwid").slice(0, 64)],
    );
    const instanceId = rows[0]?.id as string;
    const secrets = {
      address: "203.0.113.177",
      title: "Zyxwv Sealed Ballad 8841",
      user: "dlq-user-77231",
      path: "/home/sealtest/Music/zyxwv-ballad.mp4",
    };
    const batch = freshBatch("playback", instanceId, uniqueId("dlq-seal"));
    for (const e of batch.playback ?? []) {
      e.user_id = secrets.user;
      if (e.song) e.song = { ...e.song, title: secrets.title, file_path: secrets.path };
    }
    const h = headers();
    h.set(SCHEMA_FINGERPRINT_HEADER, latest.fingerprint);
    h.set(PIPELINE_HEADERS.clientIp, secrets.address);
    h.set(PIPELINE_HEADERS.receivedAt, String(Date.now()));
    await js.publish(batchSubject(config.nats), latest.type.toBuffer(batch), {
      headers: h,
      msgID: `${instanceId}:sealed`,
    });
    const old = await run(oldRegistry());
    const letters = await until(
      () => listDeadLetters(jsm, config.nats, 100, d.box),
      (l) => l.length === 1,
    );
    await old.stop();
    expect(letters).toMatchObject([{ reason: "unknown_schema", replays: 0, instanceId }]);

    // Every message of the stream, body and headers, as bytes: none of the personal values is there.
    const stream = deadLetterStreamName(config.nats);
    const info = await jsm.streams.info(stream);
    let scanned = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m) continue;
      scanned++;
      const text = `${Buffer.from(m.data).toString("latin1")}\n${[...m.header].map(([k, v]) => `${k}: ${v.join(",")}`).join("\n")}`;
      for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    }
    expect(scanned).toBe(1);

    // Replay restores the original message (body and address header); the upgraded processor stores it.
    const upgraded = await run(new SchemaRegistry());
    try {
      expect(
        (await replayDeadLetters(jsm, js, config.nats, { maxReplays: 3, box: d.box })).replayed,
      ).toHaveLength(1);
      const count = () =>
        ch
          .rows<{ n: string }>(
            `SELECT count() AS n FROM events_playback WHERE instance_id = ${sqlString(instanceId)}`,
          )
          .then((r) => Number(r[0]?.n));
      expect(await until(count, (n) => n >= (batch.playback ?? []).length)).toBe(
        (batch.playback ?? []).length,
      );
      expect(await listDeadLetters(jsm, config.nats, 100, d.box)).toEqual([]);
    } finally {
      await upgraded.stop();
    }
  });
});

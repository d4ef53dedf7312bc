import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import type { Buffered } from "../../processors/runtime/pull-loop.ts";
import { metricsJsonEachRow } from "../../processors/sinks/clickhouse/index.ts";
import { openRawTablesSink, type SinkBatch } from "../../processors/sinks/clickhouse/raw-tables-sink.ts";
import { prepareBatch } from "../../processors/steps/index.ts";
import { RAW_TABLES, routeStep } from "../../processors/steps/route/index.ts";
import { freshBatch } from "../support/batches.ts";

// The raw-tables sink on the stack's ClickHouse 18.16: metrics_quality is inserted at every flush, the
// other tables' rows wait with their messages until they fill an insert of their own or the loop asks
// for a complete insert. Every row is stored once whichever way a message comes back.
const config = loadConfig();
const database = `smstats_held_${process.pid}`;
const ch = serverExecutor({ ...config.clickhouse, database });
const log = createLogger("held-rows-test", "silent");
const instance = { tier: "starter", platform: "linux", version: "1.2.3" };
const route = routeStep(metricsJsonEachRow);

beforeAll(async () => {
  await migrateClickHouse(ch);
});
afterAll(async () => {
  await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await ch.close();
});

function sinkBatch(family: "everything" | "quality"): SinkBatch {
  const prepared = prepareBatch(freshBatch(family, randomUUID(), `held-${randomUUID()}`), {
    instance,
    country: "DE",
    secret: Buffer.alloc(32, 3),
  });
  if (prepared.kind !== "ok") throw new Error(`example batch refused: ${prepared.kind}`);
  return route(prepared.value.batch, Date.now());
}

const item = (value: SinkBatch, over: Partial<Buffered<SinkBatch>> = {}): Buffered<SinkBatch> => ({
  value,
  redelivered: false,
  held: false,
  ...over,
});

/** Rows of one batch in each raw table, and whether the batch is recorded as stored. */
async function stored(b: SinkBatch) {
  const where = `instance_id = ${sqlString(b.key.instance_id)} AND batch_id = ${sqlString(b.key.batch_id)}`;
  const counts: Record<string, number> = {};
  for (const t of RAW_TABLES) {
    const [r] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${sqlIdentifier(t)} WHERE ${where}`);
    counts[t] = Number(r?.n);
  }
  const [rec] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM inserted_batches WHERE ${where}`);
  return { counts, recorded: Number(rec?.n) };
}

/** What a batch's rows are, table by table, once stored whole. */
function expected(b: SinkBatch) {
  return Object.fromEntries(
    RAW_TABLES.map((t) => [t, b.rows[t].length + (t === "metrics_quality" ? (b.metrics?.count ?? 0) : 0)]),
  );
}

const openSink = (holdRows: number) =>
  openRawTablesSink({
    clickhouse: ch,
    insertFormat: "JSONEachRow",
    log,
    metrics: new Registry(),
    holdRows,
    holdBytes: 1 << 30,
  });

describe("the raw-tables sink holding the smaller tables' rows", () => {
  it("stores metrics_quality at once, holds the rest with its message, and stores it once when asked to complete", async () => {
    const sink = await openSink(10_000);
    const everything = sinkBatch("everything");
    const quality = sinkBatch("quality");
    const want = expected(everything);
    expect(want.events_playback).toBeGreaterThan(0);
    expect(want.metrics_quality).toBeGreaterThan(0);

    // Too few rows for inserts of their own: the message with events is stored in part and held.
    expect(await sink.insert([item(everything), item(quality)], { complete: false })).toEqual([0]);
    const part = await stored(everything);
    expect(part.counts).toEqual({
      ...Object.fromEntries(RAW_TABLES.map((t) => [t, 0])),
      metrics_quality: want.metrics_quality,
    });
    expect(part.recorded).toBe(0);
    // A message with metrics only is stored whole and recorded.
    expect(await stored(quality)).toEqual({ counts: expected(quality), recorded: 1 });

    // Given back held, with a new message, not yet enough rows: still held, nothing written twice.
    const next = sinkBatch("quality");
    expect(await sink.insert([item(everything, { held: true }), item(next)], { complete: false })).toEqual([
      0,
    ]);
    expect((await stored(everything)).counts.metrics_quality).toBe(want.metrics_quality);
    expect(await stored(next)).toEqual({ counts: expected(next), recorded: 1 });

    // Another copy of the held batch (delivered to another worker) is skipped, not stored twice.
    expect(await sink.insert([item(everything)], { complete: false })).toEqual([]);
    expect((await stored(everything)).counts.metrics_quality).toBe(want.metrics_quality);

    // Complete: the held rows go in, metrics_quality is not inserted again, the batch is recorded.
    expect(await sink.insert([item(everything, { held: true })], { complete: true })).toEqual([]);
    expect(await stored(everything)).toEqual({ counts: want, recorded: 1 });
  });

  it("inserts every table at once when the held rows reach holdRows", async () => {
    const sink = await openSink(1);
    const everything = sinkBatch("everything");
    expect(await sink.insert([item(everything)], { complete: false })).toEqual([]);
    expect(await stored(everything)).toEqual({ counts: expected(everything), recorded: 1 });
  });

  it("stores a held message redelivered after a crash once: its metrics_quality rows are found and skipped", async () => {
    const sink = await openSink(10_000);
    const everything = sinkBatch("everything");
    expect(await sink.insert([item(everything)], { complete: false })).toEqual([0]);
    // The process died holding it; JetStream delivers it again to a new process, which completes it.
    const after = await openSink(10_000);
    expect(await after.insert([item(everything, { redelivered: true })], { complete: true })).toEqual([]);
    expect(await stored(everything)).toEqual({ counts: expected(everything), recorded: 1 });
  });
});

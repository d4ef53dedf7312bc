import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Registry } from "prom-client";
import type { ClickHouseExecutor, InsertFormat } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { PIPELINE_HEADERS, processorConsumerConfig } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { componentMetrics, durationHistogram } from "../lib/metrics/index.ts";
import type { SchemaRegistry } from "../schemas/index.ts";
import { createDeadLetterPublisher } from "./dlq/dead-letter-publisher.ts";
import { type Buffered, type PullLoop, startPullLoop } from "./runtime/pull-loop.ts";
import { ok, type StepResult } from "./runtime/result.ts";
import { streamSweeper } from "./runtime/stream-sweeper.ts";
import { startWatchdog } from "./runtime/watchdog.ts";
import {
  alreadyInserted,
  type BatchKey,
  batchKey,
  detectInsertFormat,
  insertRefusal,
  type RowOrigin,
  recordBatches,
  refusalDetail,
  storedBatches,
  type TableSink,
  tableSink,
} from "./sinks/clickhouse/index.ts";
import { decode } from "./steps/decode/index.ts";
import type { CountryLookup, InstanceLookup } from "./steps/enrich/index.ts";
import { prepareBatch } from "./steps/index.ts";
import {
  type MetricsJson,
  metricsJsonEachRow,
  RAW_TABLES,
  type RawTable,
  route,
  type TableRows,
} from "./steps/route/index.ts";

/** Dependencies of the topology. */
export interface TopologyDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: Registry;
  js: JetStreamClient;
  jsm: JetStreamManager;
  clickhouse: ClickHouseExecutor;
  schemas: SchemaRegistry;
  /** Tier, platform and version of an instance (cached PostgreSQL lookup). */
  instances: InstanceLookup;
  countries: CountryLookup;
  /** The keyed-hash secret of the anonymize step. */
  anonymizeSecret: Buffer;
}

/** A running topology. */
export interface Topology {
  /** The insert format chosen at start. */
  format: InsertFormat;
  /** True while the consumer has messages waiting and makes no progress (the watchdog's verdict). */
  stalled(): boolean;
  stop(): Promise<void>;
}

/**
 * One message's rows. For a JSONEachRow sink the metric rows (most of them) come as ready JSON text
 * (`metricsJson`, route's rows serialized without building them); `rows.metrics_quality` is then empty.
 */
interface Routed {
  key: BatchKey;
  rows: TableRows;
  metricsJson?: MetricsJson;
}

/** Bytes a row object takes once encoded, on average (JSONEachRow text or its Arrow columns). */
const ROW_OBJECT_BYTES = 400;

const objectRows = (r: Routed) => RAW_TABLES.reduce((n, t) => n + r.rows[t].length, 0);
const rowCount = (r: Routed) => objectRows(r) + (r.metricsJson?.count ?? 0);
const byteCount = (r: Routed) => objectRows(r) * ROW_OBJECT_BYTES + (r.metricsJson?.text.length ?? 0);

type Sinks = Record<RawTable, TableSink<Record<string, unknown>>>;

/**
 * The insert format and one sink per raw table, both read from the server (formats, columns). A server
 * away at start is waited for, with backoff, before any message is fetched.
 */
async function openSinks(deps: TopologyDeps): Promise<{ format: InsertFormat; sinks: Sinks }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const format =
        deps.config.processor.insertFormat === "auto"
          ? await detectInsertFormat(deps.clickhouse)
          : deps.config.processor.insertFormat;
      const entries = await Promise.all(
        RAW_TABLES.map(async (t) => [t, await tableSink(deps.clickhouse, t, format)] as const),
      );
      return { format, sinks: Object.fromEntries(entries) as Sinks };
    } catch (err) {
      deps.log.warn({ err, attempt }, "ClickHouse not ready; processor waits before consuming");
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
    }
  }
}

/**
 * jetstream source → decode → enrich → anonymize → downsample → route → buffer → clickhouse sink (one
 * insert per raw table and flush), run by `config.processor.workers` pull loops sharing one durable
 * consumer. Poison messages go to the dead-letter stream.
 */
export async function startTopology(deps: TopologyDeps): Promise<Topology> {
  const { config } = deps;
  const source = componentMetrics(deps.metrics, "jetstream_source", "messages");
  const sink = componentMetrics(deps.metrics, "clickhouse_sink", "rows");
  const enrichStep = componentMetrics(deps.metrics, "enrich_step", "batches");
  const downsampleStep = componentMetrics(deps.metrics, "downsample_step", "samples");
  const insertSeconds = durationHistogram(
    deps.metrics,
    "smstats_clickhouse_insert_seconds",
    "ClickHouse insert duration, per table and flush.",
    ["table"],
  );
  const { format, sinks } = await openSinks(deps);
  deps.log.info({ format }, "ClickHouse insert format");
  const deadLetter = createDeadLetterPublisher(deps.js, config.nats);

  const process = async (
    data: Uint8Array,
    headers: Parameters<typeof decode>[2],
  ): Promise<StepResult<Routed>> => {
    const decoded = decode(deps.schemas, data, headers);
    if (decoded.kind !== "ok") return decoded;
    enrichStep.received();
    // The client's address becomes a country here and goes no further.
    const prepared = prepareBatch(decoded.value, {
      instance: await deps.instances(decoded.value.instance_id),
      country: deps.countries(headers?.get(PIPELINE_HEADERS.clientIp) ?? ""),
      secret: deps.anonymizeSecret,
    });
    if (prepared.kind !== "ok") {
      if (prepared.kind === "drop") enrichStep.dropped(prepared.reason);
      return prepared;
    }
    enrichStep.sent();
    const { batch, downsampled } = prepared.value;
    if (downsampled.samples) {
      downsampleStep.received(downsampled.samples);
      downsampleStep.sent(downsampled.rows);
    }
    const receivedAt = Number(headers?.get(PIPELINE_HEADERS.receivedAt) || 0);
    const key = { instance_id: batch.instance_id, batch_id: batch.batch_id };
    if (format === "JSONEachRow") {
      return ok({
        key,
        rows: route(batch, receivedAt, undefined, { metrics: false }),
        metricsJson: metricsJsonEachRow(batch, receivedAt),
      });
    }
    return ok({ key, rows: route(batch, receivedAt) });
  };

  /**
   * Batch ids of redelivered messages a table already holds: a flush that failed in some tables and not
   * others, or a processor that died between the tables' inserts and the record of stored batches.
   */
  const alreadyThere = async (table: RawTable, again: RowOrigin[]) => {
    if (!again.length) return new Set<string>();
    const present = await alreadyInserted(deps.clickhouse, table, again);
    if (present.size)
      deps.log.debug({ table, batches: present.size }, "redelivered batches already in the table; skipped");
    return present;
  };
  /** Batches being inserted by a worker of this process, until their record is written. */
  const inserting = new Map<string, Promise<void>>();
  /**
   * Exactly once, whatever NATS does: every message's (instance_id, batch_id) is looked up in the record
   * of stored batches, so a first delivery after a NATS crash, a redelivery and a client retry that NATS
   * no longer recognises are all skipped (and then acknowledged). A batch twice in one buffer goes once.
   */
  const unstored = async (buffered: Buffered<Routed>[]) => {
    // Another worker of this process inserting one of these batches right now (two copies of a batch in
    // the stream): wait for its insert, so the lookup below sees its record.
    for (;;) {
      const busy = buffered.flatMap((b) => inserting.get(batchKey(b.value.key)) ?? []);
      if (!busy.length) break;
      await Promise.allSettled(busy);
    }
    const stored = await storedBatches(
      deps.clickhouse,
      buffered.map((b) => b.value.key),
    );
    const seen = new Set<string>();
    const fresh: Buffered<Routed>[] = [];
    let skippedRows = 0;
    for (const b of buffered) {
      const k = batchKey(b.value.key);
      if (stored.has(k) || seen.has(k)) {
        skippedRows += rowCount(b.value);
        continue;
      }
      seen.add(k);
      fresh.push(b);
    }
    if (skippedRows) {
      sink.dropped("already_inserted", skippedRows);
      deps.log.debug(
        { batches: buffered.length - fresh.length, rows: skippedRows },
        "batches stored before; skipped and acknowledged",
      );
    }
    return fresh;
  };
  const timed = async (table: RawTable, rows: number, write: () => Promise<void>) => {
    if (!rows) return;
    const started = performance.now();
    await write();
    insertSeconds.observe({ table }, (performance.now() - started) / 1000);
    sink.sent(rows);
  };

  const insert = async (all: Buffered<Routed>[]) => {
    const buffered = await unstored(all);
    if (!buffered.length) return;
    let done = () => {};
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const keys = buffered.map((b) => batchKey(b.value.key));
    for (const k of keys) inserting.set(k, finished);
    try {
      await insertFresh(buffered);
    } finally {
      for (const k of keys) if (inserting.get(k) === finished) inserting.delete(k);
      done();
    }
  };
  const insertFresh = async (buffered: Buffered<Routed>[]) => {
    // All tables at once; if one fails the whole buffer is redelivered, and the tables that had it skip
    // it then (alreadyThere).
    const jsonMetrics = async () => {
      const again: RowOrigin[] = [];
      for (const b of buffered) {
        const j = b.value.metricsJson;
        if (b.redelivered && j?.count) {
          again.push({ ...j, time: j.minTime }, { ...j, time: j.maxTime });
        }
      }
      const present = await alreadyThere("metrics_quality", again);
      let text = "";
      let count = 0;
      for (const b of buffered) {
        const j = b.value.metricsJson;
        if (!j?.count) continue;
        if (b.redelivered && present.has(j.batch_id)) {
          sink.dropped("already_inserted", j.count);
          continue;
        }
        text += j.text;
        count += j.count;
      }
      await timed("metrics_quality", count, () => sinks.metrics_quality.insertText(text));
    };
    await Promise.all([
      jsonMetrics(),
      ...RAW_TABLES.map(async (table) => {
        let rows: Record<string, unknown>[] = [];
        const again: RowOrigin[] = [];
        for (const b of buffered) {
          const r = b.value.rows[table];
          if (!r.length) continue;
          for (const row of r) rows.push(row);
          if (b.redelivered) for (const row of r) again.push(row as unknown as RowOrigin);
        }
        const present = await alreadyThere(table, again);
        if (present.size) {
          const before = rows.length;
          rows = rows.filter((row) => !present.has(row.batch_id as string));
          sink.dropped("already_inserted", before - rows.length);
        }
        await timed(table, rows.length, () => sinks[table].insert(rows));
      }),
    ]);
    // Only once every table holds the rows: a crash before this leaves the batch to the per-table check.
    await recordBatches(
      deps.clickhouse,
      buffered.map((b) => b.value.key),
    );
  };

  const loops: PullLoop[] = [];
  const watchdog = startWatchdog({
    jsm: deps.jsm,
    stream: config.nats.stream,
    consumer: processorConsumerConfig(config.nats),
    stallMs: config.processor.stallMs,
    log: deps.log,
    metrics: deps.metrics,
    onRecreated: () => {
      for (const l of loops) l.reset();
    },
    sweep: streamSweeper({
      jsm: deps.jsm,
      js: deps.js,
      stream: config.nats.stream,
      stored: (keys) => storedBatches(deps.clickhouse, keys),
      key: batchKey,
      log: deps.log,
      source,
    }),
  });
  const refusal = (err: unknown) => {
    const r = insertRefusal(err);
    return r && refusalDetail(r);
  };
  for (let i = 0; i < config.processor.workers; i++) {
    loops.push(
      startPullLoop<Routed>({
        consumer: () => deps.js.consumers.get(config.nats.stream, config.nats.consumer),
        log: deps.log.child({ worker: i }),
        batchMessages: config.processor.batchMessages,
        batchWaitMs: config.processor.batchWaitMs,
        flushRows: config.processor.flushRows,
        flushBytes: config.processor.flushBytes,
        flushAgeMs: config.processor.flushAgeMs,
        maxDeliveries: config.processor.maxDeliveries,
        rowCount,
        byteCount,
        process: (msg) => process(msg.data, msg.headers),
        insert,
        refusal,
        source,
        sink,
        deadLetter,
        onProgress: watchdog.progress,
      }),
    );
  }
  return {
    format,
    stalled: watchdog.stalled,
    async stop() {
      watchdog.stop();
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

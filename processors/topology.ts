import type { JetStreamClient } from "@nats-io/jetstream";
import type { Registry } from "prom-client";
import type { ClickHouseExecutor, InsertFormat } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { PIPELINE_HEADERS } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { componentMetrics, durationHistogram } from "../lib/metrics/index.ts";
import type { SchemaRegistry } from "../schemas/index.ts";
import { createDeadLetterPublisher } from "./dlq/dead-letter-publisher.ts";
import { type Buffered, type PullLoop, startPullLoop } from "./runtime/pull-loop.ts";
import { ok, type StepResult } from "./runtime/result.ts";
import { alreadyInserted, detectInsertFormat, type TableSink, tableSink } from "./sinks/clickhouse/index.ts";
import { anonymize } from "./steps/anonymize/index.ts";
import { decode } from "./steps/decode/index.ts";
import { preaggregate } from "./steps/downsample/index.ts";
import { type CountryLookup, enrich, type InstanceLookup } from "./steps/enrich/index.ts";
import { RAW_TABLES, type RawTable, route, type TableRows } from "./steps/route/index.ts";

/** Dependencies of the topology. */
export interface TopologyDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: Registry;
  js: JetStreamClient;
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
  stop(): Promise<void>;
}

const rowCount = (rows: TableRows) => RAW_TABLES.reduce((n, t) => n + rows[t].length, 0);

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
  // The format and the tables' columns come from the server: wait for it if it is away at start.
  let format: InsertFormat | undefined;
  let sinks: Record<RawTable, TableSink<Record<string, unknown>>> | undefined;
  for (let attempt = 1; !sinks; attempt++) {
    try {
      const chosen =
        config.processor.insertFormat === "auto"
          ? await detectInsertFormat(deps.clickhouse)
          : config.processor.insertFormat;
      sinks = Object.fromEntries(
        await Promise.all(
          RAW_TABLES.map(async (t) => [t, await tableSink(deps.clickhouse, t, chosen)] as const),
        ),
      ) as Record<RawTable, TableSink<Record<string, unknown>>>;
      format = chosen;
    } catch (err) {
      deps.log.warn({ err, attempt }, "ClickHouse not ready; processor waits before consuming");
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
    }
  }
  deps.log.info({ format }, "ClickHouse insert format");
  const deadLetter = createDeadLetterPublisher(deps.js, config.nats);

  const process = async (
    data: Uint8Array,
    headers: Parameters<typeof decode>[2],
  ): Promise<StepResult<TableRows>> => {
    const decoded = decode(deps.schemas, data, headers);
    if (decoded.kind !== "ok") return decoded;
    enrichStep.received();
    // The client's address becomes a country here and goes no further.
    const country = deps.countries(headers?.get(PIPELINE_HEADERS.clientIp) ?? "");
    const enriched = enrich(decoded.value, {
      instance: await deps.instances(decoded.value.instance_id),
      country,
    });
    if (enriched.kind !== "ok") {
      if (enriched.kind === "drop") enrichStep.dropped(enriched.reason);
      return enriched;
    }
    enrichStep.sent();
    const { batch, report } = preaggregate(anonymize(enriched.value, { secret: deps.anonymizeSecret }));
    if (report.samples) {
      downsampleStep.received(report.samples);
      downsampleStep.sent(report.rows);
    }
    const receivedAt = Number(headers?.get(PIPELINE_HEADERS.receivedAt) || 0);
    return ok(route(batch, receivedAt));
  };

  const insert = async (buffered: Buffered<TableRows>[]) => {
    // All tables at once; if one fails the whole buffer is redelivered, and the tables that had it skip
    // it then (below).
    await Promise.all(
      RAW_TABLES.map(async (table) => {
        let rows: Record<string, unknown>[] = [];
        const again: Record<string, unknown>[] = [];
        for (const b of buffered) {
          const r = b.value[table];
          if (!r.length) continue;
          for (const row of r) rows.push(row);
          if (b.redelivered) for (const row of r) again.push(row);
        }
        if (again.length) {
          const present = await alreadyInserted(
            deps.clickhouse,
            table,
            again as unknown as Parameters<typeof alreadyInserted>[2],
          );
          if (present.size) {
            const before = rows.length;
            rows = rows.filter((row) => !present.has(row.batch_id as string));
            sink.dropped("already_inserted", before - rows.length);
            deps.log.info({ table, batches: present.size }, "redelivered batches already inserted; skipped");
          }
        }
        if (!rows.length) return;
        const started = performance.now();
        await (sinks as Record<RawTable, TableSink<Record<string, unknown>>>)[table].insert(rows);
        insertSeconds.observe({ table }, (performance.now() - started) / 1000);
        sink.sent(rows.length);
      }),
    );
  };

  const loops: PullLoop[] = [];
  for (let i = 0; i < config.processor.workers; i++) {
    const consumer = await deps.js.consumers.get(config.nats.stream, config.nats.consumer);
    loops.push(
      startPullLoop<TableRows>({
        consumer,
        log: deps.log.child({ worker: i }),
        batchMessages: config.processor.batchMessages,
        batchWaitMs: config.processor.batchWaitMs,
        flushRows: config.processor.flushRows,
        flushAgeMs: config.processor.flushAgeMs,
        rowCount,
        process: (msg) => process(msg.data, msg.headers),
        insert,
        source,
        sink,
        deadLetter,
      }),
    );
  }
  return {
    format: format as InsertFormat,
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { Counter, type Registry } from "prom-client";
import type { ClickHouseExecutor, InsertFormat } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { PIPELINE_HEADERS, processorConsumerConfig } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { componentMetrics } from "../lib/metrics/index.ts";
import type { SecretBox } from "../licensing/keys/index.ts";
import type { SchemaRegistry } from "../schemas/index.ts";
import { createDeadLetterPublisher } from "./dlq/dead-letter-publisher.ts";
import { type PullLoop, startPullLoop } from "./runtime/pull-loop.ts";
import { ok } from "./runtime/result.ts";
import { stepRunner } from "./runtime/step-runner.ts";
import { streamSweeper } from "./runtime/stream-sweeper.ts";
import { startWatchdog } from "./runtime/watchdog.ts";
import { batchKey, openRawTablesSink, type SinkBatch, storedBatches } from "./sinks/clickhouse/index.ts";
import { storedBatchId } from "./steps/anonymize/index.ts";
import { decode } from "./steps/decode/index.ts";
import { type CountryLookup, enrich, type InstanceLookup } from "./steps/enrich/index.ts";
import { anonymizeStep, downsampleStep } from "./steps/index.ts";
import { routeStep } from "./steps/route/index.ts";

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
  /** Seals what the dead-letter stream keeps. */
  box: SecretBox;
}

/** A running topology. */
export interface Topology {
  /** The insert format chosen at start. */
  format: InsertFormat;
  /** True while the consumer has messages waiting and makes no progress (the watchdog's verdict). */
  stalled(): boolean;
  stop(): Promise<void>;
}

/** What every step may read of the message besides its input: the headers ingest set. */
type MessageHeaders = Pick<MsgHdrs, "get"> | undefined;

/**
 * jetstream source → decode → enrich → anonymize → downsample → route → clickhouse sink (raw tables),
 * run by `config.processor.workers` pull loops sharing one durable consumer. Each step is counted by
 * the step runner; the sink chooses its format, buffers' sizes and de-duplication; poison messages go
 * to the dead-letter stream.
 */
export async function startTopology(deps: TopologyDeps): Promise<Topology> {
  const { config } = deps;
  const source = componentMetrics(deps.metrics, "jetstream_source", "messages");
  const downsampled = componentMetrics(deps.metrics, "downsample_step", "samples");
  const sink = await openRawTablesSink({
    clickhouse: deps.clickhouse,
    insertFormat: config.processor.insertFormat,
    log: deps.log,
    metrics: deps.metrics,
    // Held rows fill an insert of flush size; with no hold time every table is inserted at every flush.
    holdRows: config.processor.holdMaxAgeMs > 0 ? config.processor.flushRows : 0,
    holdBytes: config.processor.flushBytes,
  });
  const toRows = routeStep(sink.writeMetrics);
  // Counted in a plain map and added to the counter when it is read: the step reports once per shaped
  // value, and a labelled inc per value (label hashing) was 1 % of the processor's CPU in bench:processors.
  const shapedSince = new Map<string, { field: string; reason: string; n: number }>();
  new Counter({
    name: "smstats_processor_shaped_values_total",
    help: "Stored strings replaced or dropped by the anonymize step's shape rules, by field and reason.",
    labelNames: ["field", "reason"],
    registers: [deps.metrics],
    collect() {
      for (const { field, reason, n } of shapedSince.values()) this.inc({ field, reason }, n);
      shapedSince.clear();
    },
  });
  const reportShaped = (field: string, reason: string) => {
    const key = `${field}\u0000${reason}`;
    const seen = shapedSince.get(key);
    if (seen) seen.n++;
    else shapedSince.set(key, { field, reason, n: 1 });
  };
  // The sink stores and de-duplicates on the shaped batch_id; the sweeper compares messages with it.
  const storedKey = (k: { instance_id: string; batch_id: string }) => ({
    instance_id: k.instance_id,
    batch_id: storedBatchId(deps.anonymizeSecret, k.instance_id, k.batch_id),
  });

  const steps = stepRunner<MessageHeaders, Uint8Array>(deps.metrics)
    .step("decode", (data, headers) => decode(deps.schemas, data, headers), [
      "dead_letter:missing_schema_header",
      "dead_letter:unknown_schema",
      "dead_letter:undecodable",
    ])
    // The client's address becomes a country here and goes no further.
    .step(
      "enrich",
      async (batch, headers) =>
        enrich(batch, {
          instance: await deps.instances(batch.instance_id),
          country: deps.countries(headers?.get(PIPELINE_HEADERS.clientIp) ?? ""),
        }),
      ["unknown_instance"],
    )
    .step("anonymize", anonymizeStep(deps.anonymizeSecret, reportShaped))
    .step(
      "downsample",
      downsampleStep((r) => {
        if (!r.samples) return;
        downsampled.received(r.samples);
        downsampled.sent(r.rows);
      }),
    )
    .step(
      "route",
      (batch, headers): ReturnType<typeof ok<SinkBatch>> =>
        ok(toRows(batch, Number(headers?.get(PIPELINE_HEADERS.receivedAt) || 0))),
    );
  const deadLetter = createDeadLetterPublisher(deps.js, config.nats, deps.box);

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
      stored: (keys) => storedBatches(deps.clickhouse, keys.map(storedKey)),
      key: (k) => batchKey(storedKey(k)),
      log: deps.log,
      source,
    }),
  });
  for (let i = 0; i < config.processor.workers; i++) {
    loops.push(
      startPullLoop<SinkBatch>({
        consumer: () => deps.js.consumers.get(config.nats.stream, config.nats.consumer),
        log: deps.log.child({ worker: i }),
        batchMessages: config.processor.batchMessages,
        batchWaitMs: config.processor.batchWaitMs,
        flushRows: config.processor.flushRows,
        flushBytes: config.processor.flushBytes,
        flushAgeMs: config.processor.flushAgeMs,
        holdMaxAgeMs: config.processor.holdMaxAgeMs,
        maxDeliveries: config.processor.maxDeliveries,
        rowCount: sink.rowCount,
        byteCount: sink.byteCount,
        process: (msg) => steps.run(msg.data, msg.headers),
        insert: sink.insert,
        refusal: sink.refusal,
        source,
        sink: sink.counts,
        deadLetter,
        onProgress: watchdog.progress,
      }),
    );
  }
  return {
    format: sink.format,
    stalled: watchdog.stalled,
    async stop() {
      watchdog.stop();
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

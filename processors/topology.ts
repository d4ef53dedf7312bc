import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Registry } from "prom-client";
import type { Config } from "../lib/config/index.ts";
import { PIPELINE_HEADERS } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { componentMetrics, durationHistogram } from "../lib/metrics/index.ts";
import type { SchemaRegistry } from "../schemas/index.ts";
import { createDeadLetterPublisher } from "./dlq/dead-letter-publisher.ts";
import { type PullLoop, startPullLoop } from "./runtime/pull-loop.ts";
import { ok, type StepResult } from "./runtime/result.ts";
import { clickhouseSink } from "./sinks/clickhouse/index.ts";
import { anonymize } from "./steps/anonymize/index.ts";
import { decode } from "./steps/decode/index.ts";
import { type CountryLookup, enrich, type InstanceLookup } from "./steps/enrich/index.ts";
import { RAW_TABLES, type RawTable, route, type TableRows } from "./steps/route/index.ts";

/** Dependencies of the topology. */
export interface TopologyDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: Registry;
  js: JetStreamClient;
  clickhouse: ClickHouseClient;
  schemas: SchemaRegistry;
  /** Tier, platform and version of an instance (cached PostgreSQL lookup). */
  instances: InstanceLookup;
  countries: CountryLookup;
  /** The keyed-hash secret of the anonymize step. */
  anonymizeSecret: Buffer;
}

/**
 * jetstream source → decode → enrich → anonymize → route → clickhouse sink (one insert per raw table and
 * fetch), run by `config.processor.workers` pull loops sharing one durable consumer. Poison messages go
 * to the dead-letter stream.
 */
export async function startTopology(deps: TopologyDeps): Promise<{ stop(): Promise<void> }> {
  const { config } = deps;
  const source = componentMetrics(deps.metrics, "jetstream_source", "messages");
  const sink = componentMetrics(deps.metrics, "clickhouse_sink", "rows");
  const enrichStep = componentMetrics(deps.metrics, "enrich_step", "batches");
  const insertSeconds = durationHistogram(
    deps.metrics,
    "smstats_clickhouse_insert_seconds",
    "ClickHouse insert duration.",
    ["table"],
  );
  const sinks = Object.fromEntries(RAW_TABLES.map((t) => [t, clickhouseSink(deps.clickhouse, t)]));
  const deadLetter = createDeadLetterPublisher(deps.js, config.nats);

  const process = async (
    data: Uint8Array,
    headers: Parameters<typeof decode>[2],
  ): Promise<StepResult<TableRows[]>> => {
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
    const receivedAt = Number(headers?.get(PIPELINE_HEADERS.receivedAt) || 0);
    return ok([route(anonymize(enriched.value, { secret: deps.anonymizeSecret }), receivedAt)]);
  };

  const insert = async (batches: TableRows[]) => {
    const byTable = new Map<RawTable, Record<string, unknown>[]>();
    for (const rows of batches) {
      for (const table of RAW_TABLES)
        if (rows[table].length) byTable.set(table, [...(byTable.get(table) ?? []), ...rows[table]]);
    }
    // All tables at once; if one fails the whole fetch is redelivered (see the README on duplicates).
    await Promise.all(
      [...byTable].map(async ([table, rows]) => {
        const started = performance.now();
        await sinks[table]?.insert(rows);
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
        process: (msg) => process(msg.data, msg.headers),
        insert,
        source,
        // The loop counts sent items per message; rows per table are counted in `insert` above.
        sink: { ...sink, sent: () => {} },
        deadLetter,
      }),
    );
  }
  return {
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

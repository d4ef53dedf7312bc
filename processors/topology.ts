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
import { ok } from "./runtime/result.ts";
import { clickhouseSink } from "./sinks/clickhouse/index.ts";
import { decode } from "./steps/decode/index.ts";
import { flatten, type MetricsQualityRow } from "./steps/flatten/index.ts";

/** Dependencies of the topology. */
export interface TopologyDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: Registry;
  js: JetStreamClient;
  clickhouse: ClickHouseClient;
  schemas: SchemaRegistry;
}

/**
 * jetstream source → decode → flatten → clickhouse sink (metrics_quality), run by
 * `config.processor.workers` pull loops sharing one durable consumer.
 */
export async function startTopology(deps: TopologyDeps): Promise<{ stop(): Promise<void> }> {
  const { config } = deps;
  const source = componentMetrics(deps.metrics, "jetstream_source", "messages");
  const sink = componentMetrics(deps.metrics, "clickhouse_sink", "rows");
  const items = componentMetrics(deps.metrics, "route_step", "items");
  const insertSeconds = durationHistogram(
    deps.metrics,
    "smstats_clickhouse_insert_seconds",
    "ClickHouse insert duration.",
    ["table"],
  );
  const table = clickhouseSink<MetricsQualityRow>(deps.clickhouse, "metrics_quality");
  const loops: PullLoop[] = [];
  const deadLetter = createDeadLetterPublisher(deps.js, config.nats);
  for (let i = 0; i < config.processor.workers; i++) {
    const consumer = await deps.js.consumers.get(config.nats.stream, config.nats.consumer);
    loops.push(
      startPullLoop<MetricsQualityRow>({
        consumer,
        log: deps.log.child({ worker: i }),
        batchMessages: config.processor.batchMessages,
        batchWaitMs: config.processor.batchWaitMs,
        process: (msg) => {
          const decoded = decode(deps.schemas, msg.data, msg.headers);
          if (decoded.kind !== "ok") return decoded;
          // Only the quality family has a table so far; the other families are counted, not lost silently.
          const b = decoded.value;
          const unrouted = b.library.length + b.playback.length + b.session.length + (b.environment ? 1 : 0);
          if (unrouted) items.dropped("no_table_yet", unrouted);
          return ok(flatten(decoded.value, Number(msg.headers?.get(PIPELINE_HEADERS.receivedAt) || 0)));
        },
        insert: (rows) => table.insert(rows),
        source,
        sink,
        onInsert: (seconds) => insertSeconds.observe({ table: table.table }, seconds),
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

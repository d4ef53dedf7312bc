import { clickhouseDateTime } from "../../processors/steps/route/index.ts";
import { qualityMetrics } from "../ingest/bodies.ts";

/** Rows of metrics_quality for one batch of the benchmark's 100 quality metrics, as the processor routes them. */
export function qualityRows(instanceId: string, batchId: string, nowMs: number, count: number) {
  const time = clickhouseDateTime(nowMs);
  return qualityMetrics(count, nowMs).map((m, i) => {
    const keys = Object.keys(m.tags).sort();
    return {
      time: m.time_ms === null ? time : clickhouseDateTime(m.time_ms),
      instance_id: instanceId,
      tier: "starter",
      app_version: "1.4.2",
      platform: "linux",
      country: "",
      batch_id: batchId,
      row_index: i,
      received_at: time,
      metric_name: m.name,
      value: m.value,
      "tags.key": keys,
      "tags.value": keys.map((k) => m.tags[k] as string),
    };
  });
}

/** The PostgreSQL plan's table (direct-server.ts), dropped by the bench when it ends. */
export const DIRECT_PG_TABLE = "bench_direct_metrics";

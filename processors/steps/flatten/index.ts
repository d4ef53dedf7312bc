import type { MetricsBatch } from "../../../schemas/index.ts";

/** One row of metrics_quality, in ClickHouse's JSONEachRow spelling. */
export interface MetricsQualityRow {
  time: string;
  instance_id: string;
  metric_name: string;
  value: number;
  "tags.key": string[];
  "tags.value": string[];
  batch_id: string;
  received_at: string;
}

/** Formats epoch milliseconds as ClickHouse's DateTime text in UTC ('YYYY-MM-DD hh:mm:ss'). */
export function clickhouseDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * Turns a batch's quality metrics into metrics_quality rows. `receivedAtMs` comes from the message
 * header when the batch is a client's Avro body passed through (its received_at_ms is 0).
 */
export function flatten(batch: MetricsBatch, receivedAtMs = batch.received_at_ms): MetricsQualityRow[] {
  const receivedAt = clickhouseDateTime(receivedAtMs || batch.received_at_ms);
  return batch.metrics.map((m) => {
    const time = clickhouseDateTime(m.time_ms ?? batch.timestamp_ms);
    const keys = Object.keys(m.tags).sort();
    return {
      time,
      instance_id: batch.instance_id,
      metric_name: m.name,
      value: m.value,
      "tags.key": keys,
      "tags.value": keys.map((k) => m.tags[k] as string),
      batch_id: batch.batch_id,
      received_at: receivedAt,
    };
  });
}

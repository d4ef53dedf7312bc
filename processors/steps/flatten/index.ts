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

/** Turns a batch into one metrics_quality row per metric. */
export function flatten(batch: MetricsBatch): MetricsQualityRow[] {
  const time = clickhouseDateTime(batch.timestamp_ms);
  const receivedAt = clickhouseDateTime(batch.received_at_ms);
  return batch.metrics.map((m) => {
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

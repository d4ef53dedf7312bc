import type { AnonymizedBatch } from "../../steps/anonymize/index.ts";
import type { EnrichedBatch } from "../../steps/enrich/index.ts";
import { clickhouseDateTime } from "../../steps/route/index.ts";

/** The metrics_quality rows of one batch as JSONEachRow text, with what the sink needs to know of them. */
export interface MetricsJson {
  /**
   * One JSON object per line, each line ending in a newline, as UTF-8 bytes; exactly JSON.stringify of
   * route's rows. Encoded per batch, while the batch's short string is fresh: the sink sends the
   * batches' bytes one after the other instead of flattening one string of a whole flush built from
   * millions of pieces (bench:processors profile: 705 of ~5,000 ms of processor CPU went there).
   */
  body: Buffer;
  count: number;
  batch_id: string;
  tier: string;
  instance_id: string;
  /** Earliest and latest `time` of the rows (DateTime text), for the redelivery check. */
  minTime: string;
  maxTime: string;
}

const jsonNumber = (n: number) => (Number.isFinite(n) ? String(n) : "null");

/**
 * The metric rows route() makes, written straight as JSONEachRow text: the columns every row of the
 * batch shares are serialized once, so a JSON sink skips building and stringifying an object per row
 * (most rows are metrics): the JSONEachRow sink's writer for the route step.
 * test/processors/route.test.ts holds it to JSON.stringify(route(...)) exactly.
 */
export function metricsJsonEachRow(batch: AnonymizedBatch<EnrichedBatch>, receivedAtMs: number): MetricsJson {
  const receivedAt = clickhouseDateTime(receivedAtMs || batch.received_at_ms || batch.timestamp_ms);
  const shared =
    `","instance_id":${JSON.stringify(batch.instance_id)},"tier":${JSON.stringify(batch.tier)}` +
    `,"app_version":${JSON.stringify(batch.appVersion)},"platform":${JSON.stringify(batch.platform)}` +
    `,"country":${JSON.stringify(batch.country)},"batch_id":${JSON.stringify(batch.batch_id)},"row_index":`;
  const afterIndex = `,"received_at":"${receivedAt}","metric_name":`;
  let text = "";
  let minTime = "";
  let maxTime = "";
  const metrics = batch.metrics;
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i] as (typeof metrics)[number];
    const time = clickhouseDateTime(m.time_ms ?? batch.timestamp_ms);
    if (i === 0 || time < minTime) minTime = time;
    if (i === 0 || time > maxTime) maxTime = time;
    const keys = Object.keys(m.tags);
    let tagKeys = "[]";
    let tagValues = "[]";
    if (keys.length) {
      if (keys.length > 1) keys.sort();
      tagKeys = JSON.stringify(keys);
      tagValues = JSON.stringify(keys.map((k) => m.tags[k] as string));
    }
    text += `{"time":"${time}${shared}${i}${afterIndex}${JSON.stringify(m.name)},"value":${jsonNumber(m.value)},"tags.key":${tagKeys},"tags.value":${tagValues}}\n`;
  }
  return {
    body: Buffer.from(text),
    count: metrics.length,
    batch_id: batch.batch_id,
    tier: batch.tier,
    instance_id: batch.instance_id,
    minTime,
    maxTime,
  };
}

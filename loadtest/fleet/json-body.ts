import type { MetricsBatch } from "../../schemas/index.ts";

const iso = (ms: number) => new Date(ms).toISOString();

function withTime<T extends { time_ms?: number | null }>(item: T) {
  const { time_ms, ...rest } = item;
  return time_ms === null || time_ms === undefined ? rest : { ...rest, time: iso(time_ms) };
}

/** The JSON body an instance would send for a batch (times as RFC 3339 strings; received_at is ingest's). */
export function toJsonBody(batch: MetricsBatch): Record<string, unknown> {
  return {
    instance_id: batch.instance_id,
    batch_id: batch.batch_id,
    seq: batch.seq,
    sent_at: iso(batch.sent_at_ms),
    timestamp: iso(batch.timestamp_ms),
    app_version: batch.app_version,
    sdk_version: batch.sdk_version,
    privacy: { ...batch.privacy },
    metrics: batch.metrics.map(withTime),
    library: batch.library.map(withTime),
    playback: batch.playback.map(withTime),
    session: batch.session.map((s) => {
      const { start_ms, ...rest } = withTime(s) as typeof s;
      return start_ms === null || start_ms === undefined ? rest : { ...rest, start: iso(start_ms) };
    }),
    environment: batch.environment ? withTime(batch.environment) : null,
  };
}

import { type ExampleFamily, exampleBatches, type MetricsBatch } from "../../schemas/index.ts";

const EXAMPLE_TIME = exampleBatches.quality.timestamp_ms;

function shift(value: unknown, delta: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shift(v, delta));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k.endsWith("_ms") && typeof v === "number" && v > 0 ? v + delta : shift(v, delta),
      ]),
    );
  }
  return value;
}

/** An example batch of a family, moved to the present and given to an instance, with a fresh batch id. */
export function freshBatch(
  family: ExampleFamily,
  instanceId: string,
  batchId: string,
  now = Date.now(),
): MetricsBatch {
  const batch = shift(structuredClone(exampleBatches[family]), now - 60_000 - EXAMPLE_TIME) as MetricsBatch;
  return { ...batch, instance_id: instanceId, batch_id: batchId };
}

const iso = (ms: number) => new Date(ms).toISOString();

function withTime<T extends { time_ms?: number | null }>(item: T) {
  const { time_ms, ...rest } = item;
  return time_ms === null || time_ms === undefined ? rest : { ...rest, time: iso(time_ms) };
}

/** The JSON body an instance would send for a batch (times as RFC 3339 strings). */
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

import type { MetricsBatch } from "../../../schemas/index.ts";

/** How samples of one metric reported faster than analysis needs are combined before insert. */
export interface PreaggregateRule {
  /** Length of the bucket samples are combined into, ms. */
  bucketMs: number;
  /** Which sample of a bucket is kept: the worst (largest value) keeps its own tags. */
  keep: "max";
}

/**
 * Metrics pre-aggregated in the processor, and why.
 *
 * mpv_health_status: instances report the player's health every 30 s (0 ok, 1 degraded, 2 dead, tag
 * status). Boards and alerts look at it per minute at the finest; what matters in a minute is whether
 * the player was unhealthy at all, so each instance-minute keeps its worst sample (with that sample's
 * status tag) and a `samples` tag saying how many were combined. Rollup `samples` of this metric
 * therefore count instance-minutes, and avg/p95 are over per-minute worst states. Halves the rows of the
 * most frequent metric.
 *
 * Not pre-aggregated: api_response_times_ms (its quantiles need every sample), counters such as
 * mpv_restart_count and error_count_by_type (sums must stay exact), and memory/cpu gauges, which are
 * reported once a minute or slower.
 */
export const PREAGGREGATE: Readonly<Record<string, PreaggregateRule>> = {
  mpv_health_status: { bucketMs: 60_000, keep: "max" },
};

/** What preaggregate did to one batch, for the step's metrics. */
export interface PreaggregateReport {
  /** Samples of pre-aggregated metrics in the batch. */
  samples: number;
  /** Rows those samples became. */
  rows: number;
}

/**
 * Combines the samples of pre-aggregated metrics that fall into the same bucket of one batch; all other
 * metrics pass unchanged and in order. A combined row's time is its bucket's start. Pure.
 */
export function preaggregate<T extends Pick<MetricsBatch, "metrics" | "timestamp_ms">>(
  batch: T,
  rules: Readonly<Record<string, PreaggregateRule>> = PREAGGREGATE,
): { batch: T; report: PreaggregateReport } {
  const report: PreaggregateReport = { samples: 0, rows: 0 };
  // Most batches carry no such metric: hand them on as they are, without copying.
  if (!batch.metrics.some((m) => rules[m.name] !== undefined)) return { batch, report };
  const buckets = new Map<string, { index: number; metric: T["metrics"][number]; samples: number }>();
  const out: T["metrics"] = [];
  for (const m of batch.metrics) {
    const rule = rules[m.name];
    if (!rule) {
      out.push(m);
      continue;
    }
    report.samples++;
    const time = m.time_ms ?? batch.timestamp_ms;
    const start = time - (((time % rule.bucketMs) + rule.bucketMs) % rule.bucketMs);
    const key = `${m.name}\u0000${start}`;
    const seen = buckets.get(key);
    if (!seen) {
      const metric = { ...m, time_ms: start };
      buckets.set(key, { index: out.length, metric, samples: 1 });
      out.push(metric);
      continue;
    }
    seen.samples++;
    if (m.value > seen.metric.value) seen.metric = { ...m, time_ms: start };
  }
  for (const b of buckets.values()) {
    out[b.index] = { ...b.metric, tags: { ...b.metric.tags, samples: String(b.samples) } };
    report.rows++;
  }
  return { batch: { ...batch, metrics: out }, report };
}

import type { Redis } from "ioredis";
import type { MetricsBatch } from "../../../../schemas/index.ts";
import type { BatchDecision } from "./accept-batch.ts";

/** The telemetry error metrics: what the design's MaxErrorReportsPerHour counts (one item, one report). */
export const ERROR_METRICS: ReadonlySet<string> = new Set(["error_count_by_type", "websocket_errors"]);

/** How many error reports of a batch are over the instance's hourly allowance. */
export function errorReportsIn(batch: MetricsBatch): number {
  return batch.metrics.filter((m) => ERROR_METRICS.has(m.name)).length;
}

/**
 * The decision with error reports beyond `allowed` dropped (the first `allowed` are kept, in order), and
 * how many were dropped. Pure. A batch that changes is published as a record (its bytes no longer match).
 */
export function capErrorReports(
  decision: Extract<BatchDecision, { kind: "publish" }>,
  allowed: number,
  receivedAt: number,
): { decision: Extract<BatchDecision, { kind: "publish" }>; dropped: number } {
  let kept = 0;
  let dropped = 0;
  const metrics = decision.batch.metrics.filter((m) => {
    if (!ERROR_METRICS.has(m.name)) return true;
    if (kept < allowed) {
      kept++;
      return true;
    }
    dropped++;
    return false;
  });
  if (dropped === 0) return { decision, dropped };
  const batch = { ...decision.batch, metrics };
  return {
    dropped,
    decision: {
      ...decision,
      batch,
      input: { kind: "record", batch: { ...batch, received_at_ms: receivedAt } },
      counts: { ...decision.counts, metrics: metrics.length },
      items: decision.items - dropped,
    },
  };
}

/** Counts error reports per instance and hour (shared by every ingest process). */
export interface ErrorReportCounter {
  /** Adds n reports; answers how many of them fit under the limit. */
  allow(instanceId: string, n: number): Promise<number>;
}

// INCRBY + PEXPIRE at the window's first report: a fixed hour per instance, atomic across processes.
const ADD = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`;

/** An error-report counter in Redis; keys <prefix>errrep:<instance>. */
export function createErrorReportCounter(
  redis: Redis,
  prefix: string,
  limitPerHour: number,
): ErrorReportCounter {
  redis.defineCommand("smstatsErrorReports", { numberOfKeys: 1, lua: ADD });
  const run = (redis as unknown as { smstatsErrorReports(...a: unknown[]): Promise<number> })
    .smstatsErrorReports;
  return {
    async allow(instanceId, n) {
      const total = await run.call(redis, `${prefix}errrep:${instanceId}`, n, 3_600_000);
      // Of the n just added, those that fit under the limit given the total before them.
      return Math.max(0, Math.min(n, limitPerHour - (total - n)));
    },
  };
}

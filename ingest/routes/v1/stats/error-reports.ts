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

// Reserves up to ARGV[1] reports of the instance's hour (a fixed window from its first reservation),
// never past the limit ARGV[2]: answers {granted, ms left in the window}. Atomic across processes.
const RESERVE = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), math.max(0, tonumber(ARGV[2]) - cur))
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant)
  if cur == 0 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
return {grant, redis.call('PTTL', KEYS[1])}`;

const HOUR_MS = 3_600_000;
/** Leases held before expired ones are swept (at most once a minute: a sweep walks them all). */
const SWEEP_ABOVE = 10_000;
const SWEEP_EVERY_MS = 60_000;

/**
 * An error-report counter in Redis (keys <prefix>errrep:<instance>) that does not cost a round trip per
 * batch: each process reserves a share of an instance's hourly allowance in Redis (the reports a batch
 * needs plus `leaseSize`, default a twentieth of the limit, at most 50) and spends it locally until it
 * runs out or the instance's hour ends. Reservations never pass the limit, so the instance never gets
 * more than the limit an hour across all processes; near the limit, up to `leaseSize` reports still
 * reserved by another process can be refused here (one process: exact). Redis counts reports reserved,
 * not reports sent.
 */
export function createErrorReportCounter(
  redis: Redis,
  prefix: string,
  limitPerHour: number,
  leaseSize = Math.max(0, Math.min(50, Math.floor(limitPerHour / 20))),
): ErrorReportCounter {
  redis.defineCommand("smstatsErrorReportLease", { numberOfKeys: 1, lua: RESERVE });
  const reserve = (
    redis as unknown as { smstatsErrorReportLease(...a: unknown[]): Promise<[number, number]> }
  ).smstatsErrorReportLease;
  const leases = new Map<string, { left: number; untilMs: number }>();
  let sweptAt = 0;
  const valid = (instanceId: string, now: number) => {
    const lease = leases.get(instanceId);
    if (lease && lease.untilMs > now) return lease;
    if (lease) leases.delete(instanceId);
    return undefined;
  };
  return {
    async allow(instanceId, n) {
      const held = valid(instanceId, Date.now());
      if (held && held.left >= n) {
        held.left -= n;
        return n;
      }
      const [granted, ttl] = await reserve.call(
        redis,
        `${prefix}errrep:${instanceId}`,
        n - (held?.left ?? 0) + leaseSize,
        limitPerHour,
        HOUR_MS,
      );
      // After the round trip: what this process holds now (another batch may have spent or renewed it).
      const now = Date.now();
      const available = granted + (valid(instanceId, now)?.left ?? 0);
      const allowed = Math.min(n, available);
      if (leases.size >= SWEEP_ABOVE && now - sweptAt >= SWEEP_EVERY_MS) {
        sweptAt = now;
        for (const id of leases.keys()) valid(id, now);
      }
      leases.set(instanceId, { left: available - allowed, untilMs: now + Math.max(0, ttl) });
      return allowed;
    },
  };
}

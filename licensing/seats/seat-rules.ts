import type { FingerprintComponents } from "../client/index.ts";
import { type ReasonCode, STOPPING_REASONS } from "./decide.ts";

// Pure rules of the seat service beside decide.ts: no I/O, the clock passed in.

/** The window over which self-service transfers (deactivations) are counted. */
export const TRANSFER_WINDOW_MS = 30 * 86_400_000;

/** Whether one more self-service transfer fits the tier's cap, and if not, when the oldest leaves the window. */
export function judgeTransfer(t: {
  used: number;
  cap: number;
  oldestMs: number | null;
  nowMs: number;
}): { ok: true; left: number } | { ok: false; retryAfterSeconds: number } {
  if (t.used < t.cap) return { ok: true, left: t.cap - t.used - 1 };
  const oldest = t.oldestMs ?? t.nowMs;
  return {
    ok: false,
    retryAfterSeconds: Math.max(1, Math.ceil((oldest + TRANSFER_WINDOW_MS - t.nowMs) / 1000)),
  };
}

/** The components a seat keeps after one accepted change: the presented ones win, absent ones stay. */
export function driftedComponents(
  stored: FingerprintComponents,
  presented: FingerprintComponents,
): FingerprintComponents {
  return { ...stored, ...presented };
}

/** A heartbeat's instructions: whether the instance goes on, and when it beats next. */
export function heartbeatPlan(
  reason: ReasonCode,
  nowMs: number,
  intervalSeconds: number,
): { continue: boolean; next_heartbeat_at: string } {
  return {
    continue: !STOPPING_REASONS.has(reason),
    next_heartbeat_at: new Date(nowMs + intervalSeconds * 1000).toISOString(),
  };
}

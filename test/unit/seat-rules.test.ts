import { describe, expect, it } from "vitest";
import {
  driftedComponents,
  heartbeatPlan,
  judgeTransfer,
  TRANSFER_WINDOW_MS,
} from "../../licensing/seats/seat-rules.ts";

describe("seat rules", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  it("allows a transfer under the cap and says how many are left", () => {
    expect(judgeTransfer({ used: 0, cap: 3, oldestMs: null, nowMs: now })).toEqual({ ok: true, left: 2 });
    expect(judgeTransfer({ used: 2, cap: 3, oldestMs: now - 1000, nowMs: now })).toEqual({
      ok: true,
      left: 0,
    });
  });
  it("refuses at the cap until the oldest transfer leaves the 30-day window", () => {
    const oldest = now - TRANSFER_WINDOW_MS + 90_000;
    expect(judgeTransfer({ used: 3, cap: 3, oldestMs: oldest, nowMs: now })).toEqual({
      ok: false,
      retryAfterSeconds: 90,
    });
    expect(judgeTransfer({ used: 3, cap: 3, oldestMs: now - TRANSFER_WINDOW_MS, nowMs: now })).toEqual({
      ok: false,
      retryAfterSeconds: 1,
    });
  });
  it("keeps absent components and takes changed ones", () => {
    expect(driftedComponents({ cpu: "a", disk: "b" }, { disk: "c", mac: "d" })).toEqual({
      cpu: "a",
      disk: "c",
      mac: "d",
    });
  });
  it("tells a heartbeat to stop on a stopping reason and when to beat next", () => {
    expect(heartbeatPlan("VALID", now, 3600)).toEqual({
      continue: true,
      next_heartbeat_at: "2026-06-01T01:00:00.000Z",
    });
    expect(heartbeatPlan("REVOKED", now, 60).continue).toBe(false);
  });
});

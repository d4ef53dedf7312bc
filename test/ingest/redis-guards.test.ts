import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReplayGuard } from "../../ingest/auth/replay-guard.ts";
import { createRateLimiter } from "../../ingest/limits/rate-limiter.ts";
import { createSequenceTracker } from "../../ingest/sequence/sequence-tracker.ts";
import { connectRedis } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { uniqueId } from "../support/app.ts";

const config = loadConfig();
let redis: Redis;
beforeAll(async () => {
  redis = await connectRedis(config.redis.url, "guards-test");
});
afterAll(async () => {
  await redis.quit();
});

describe("rate limiter (Redis)", () => {
  it("allows the limit within a window and refuses the next, per key", async () => {
    const rl = createRateLimiter(redis, config.redis.keyPrefix);
    const a = uniqueId("rl-a");
    const b = uniqueId("rl-b");
    const results = await Promise.all(Array.from({ length: 101 }, () => rl.hit(a, 100)));
    expect(results.filter((r) => r.allowed)).toHaveLength(100);
    const last = await rl.hit(a, 100);
    expect(last).toMatchObject({ allowed: false, remaining: 0, limit: 100 });
    expect(last.resetMs).toBeGreaterThan(0);
    expect(last.resetMs).toBeLessThanOrEqual(60_000);
    expect(await rl.hit(b, 100)).toMatchObject({ allowed: true, remaining: 99 });
  });
});

describe("replay guard (Redis)", () => {
  it("accepts a signature once", async () => {
    const guard = createReplayGuard(redis, config.redis.keyPrefix);
    const sig = uniqueId("sig");
    expect(await guard.firstUse(sig, 10_000)).toBe(true);
    expect(await guard.firstUse(sig, 10_000)).toBe(false);
  });
});

describe("sequence tracker (Redis)", () => {
  it("tells next, gaps, late fills and repeats apart", async () => {
    const t = createSequenceTracker(redis, config.redis.keyPrefix);
    const id = uniqueId("seq");
    const outcomes = [];
    for (const s of [1, 2, 3, 6, 4, 4, 7, 0]) outcomes.push(await t.record(id, s));
    expect(outcomes).toEqual([
      { outcome: "first", missing: 0 },
      { outcome: "next", missing: 0 },
      { outcome: "next", missing: 0 },
      { outcome: "gap", missing: 2 },
      { outcome: "late", missing: 0 },
      { outcome: "repeat", missing: 0 },
      { outcome: "next", missing: 0 },
      { outcome: "untracked", missing: 0 },
    ]);
  });
});

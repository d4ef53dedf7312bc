import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRequestGuard } from "../../ingest/auth/request-guard.ts";
import { createErrorReportCounter } from "../../ingest/routes/v1/stats/error-reports.ts";
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

describe("request guard (Redis)", () => {
  const admit = (
    guard: ReturnType<typeof createRequestGuard>,
    instanceId: string,
    signature = uniqueId("sig"),
  ) => guard.admit({ instanceId, limit: 100, signature, signatureTtlMs: 10_000 });

  it("allows the limit within a window and refuses the next, per instance", async () => {
    const guard = createRequestGuard(redis, config.redis.keyPrefix);
    const a = uniqueId("rl-a");
    const b = uniqueId("rl-b");
    const results = await Promise.all(Array.from({ length: 100 }, () => admit(guard, a)));
    expect(results.every((r) => r.allowed && r.firstUse)).toBe(true);
    const last = await admit(guard, a);
    expect(last).toMatchObject({ allowed: false, remaining: 0, limit: 100 });
    expect(last.resetMs).toBeGreaterThan(0);
    expect(last.resetMs).toBeLessThanOrEqual(60_000);
    expect(await admit(guard, b)).toMatchObject({ allowed: true, remaining: 99 });
  });

  it("admits the requests of one turn in order, each with its own instance's count and signature", async () => {
    const guard = createRequestGuard(redis, config.redis.keyPrefix);
    const a = uniqueId("rl");
    const b = uniqueId("rl");
    const sig = uniqueId("sig");
    const call = (instanceId: string, limit: number, signature = uniqueId("sig")) =>
      guard.admit({ instanceId, limit, signature, signatureTtlMs: 10_000 });
    // One turn of the event loop: one script call admits all six, in this order. A replayed signature
    // is answered as such and not counted (only verified first uses count against the instance).
    const [a1, b1, a2, a3, b2, a4] = await Promise.all([
      call(a, 2, sig),
      call(b, 5),
      call(a, 2, sig),
      call(a, 2),
      call(b, 5),
      call(a, 2),
    ]);
    expect([a1, a2, a3, a4].map((r) => [r?.allowed, r?.firstUse])).toEqual([
      [true, true],
      [true, false],
      [true, true],
      [false, false],
    ]);
    expect([a1, a3, a4].map((r) => r?.remaining)).toEqual([1, 0, 0]);
    expect([b1, b2].map((r) => [r?.allowed, r?.remaining, r?.limit])).toEqual([
      [true, 4, 5],
      [true, 3, 5],
    ]);
  });

  it("accepts a signature once", async () => {
    const guard = createRequestGuard(redis, config.redis.keyPrefix);
    const id = uniqueId("sig-i");
    const sig = uniqueId("sig");
    expect((await admit(guard, id, sig)).firstUse).toBe(true);
    expect((await admit(guard, id, sig)).firstUse).toBe(false);
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

  it("records batches stored in one turn together, each instance's in the order stored", async () => {
    const t = createSequenceTracker(redis, config.redis.keyPrefix);
    const a = uniqueId("seq");
    const b = uniqueId("seq");
    // One turn of the event loop: every call below goes to Redis in one script call.
    const calls: [string, number][] = [
      [a, 1],
      [b, 5],
      [a, 2],
      [a, 5],
      [b, 6],
      [a, 3],
      [a, 3],
      [b, 6],
    ];
    const outcomes = await Promise.all(calls.map(([id, s]) => t.record(id, s)));
    expect(outcomes.map((o) => `${o.outcome}/${o.missing}`)).toEqual([
      "first/0",
      "first/0",
      "next/0",
      "gap/2",
      "next/0",
      "late/0",
      "repeat/0",
      "repeat/0",
    ]);
  });
});

describe("error-report counter (Redis)", () => {
  const key = (id: string) => `${config.redis.keyPrefix}errrep:${id}`;

  it("reserves a share of the hour in Redis and spends it without a round trip until it runs out", async () => {
    // limit 100: a lease of 5 beyond what a batch needs.
    const counter = createErrorReportCounter(redis, config.redis.keyPrefix, 100);
    const id = uniqueId("errrep");
    expect(await counter.allow(id, 3)).toBe(3);
    expect(await redis.get(key(id))).toBe("8");
    const ttl = await redis.pttl(key(id));
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    // 5 held: served here, Redis untouched.
    expect(await counter.allow(id, 2)).toBe(2);
    expect(await counter.allow(id, 3)).toBe(3);
    expect(await redis.get(key(id))).toBe("8");
    // Held 0, needs 4: reserves 4 + 5.
    expect(await counter.allow(id, 4)).toBe(4);
    expect(await redis.get(key(id))).toBe("17");
  });

  it("never lets an instance pass the limit across processes, and one process gets exactly the limit", async () => {
    const id = uniqueId("errrep");
    // Two ingest processes, each with its own leases; batches of 1–3 reports, interleaved.
    const a = createErrorReportCounter(redis, config.redis.keyPrefix, 200);
    const b = createErrorReportCounter(redis, config.redis.keyPrefix, 200);
    let allowed = 0;
    for (let i = 0; i < 150; i++) allowed += await (i % 2 ? a : b).allow(id, 1 + (i % 3));
    expect(allowed).toBeLessThanOrEqual(200);
    // Both together asked for 300: refused only what the other still holds (a lease of at most 10).
    expect(allowed).toBeGreaterThanOrEqual(190);
    expect(Number(await redis.get(key(id)))).toBeLessThanOrEqual(200);

    const alone = uniqueId("errrep");
    const one = createErrorReportCounter(redis, config.redis.keyPrefix, 200);
    let got = 0;
    for (let i = 0; i < 150; i++) got += await one.allow(alone, 1 + (i % 3));
    expect(got).toBe(200);
    expect(await one.allow(alone, 1)).toBe(0);
  });

  it("answers concurrent batches of one instance without spending a report twice", async () => {
    const counter = createErrorReportCounter(redis, config.redis.keyPrefix, 40);
    const id = uniqueId("errrep");
    const answers = await Promise.all(Array.from({ length: 30 }, () => counter.allow(id, 2)));
    expect(answers.reduce((x, y) => x + y, 0)).toBe(40);
    expect(Number(await redis.get(key(id)))).toBe(40);
  });
});

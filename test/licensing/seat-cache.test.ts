import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createRegistry } from "../../lib/metrics/index.ts";
import { createSeatCache, licensingMetrics, type SeatState } from "../../licensing/index.ts";
import { metricValue } from "./licensing-app.ts";

const config = loadConfig();
let redis: Redis;
beforeAll(async () => {
  redis = await connectRedis(config.redis.url, "seat-cache-test");
});
afterAll(async () => {
  await redis?.quit();
});

const state = (id: string, banned: boolean): SeatState => ({ instanceId: id, banned, seat: null });

function cacheWith(load: (id: string) => Promise<SeatState | undefined>, client: Redis = redis) {
  const registry = createRegistry("test");
  const metrics = licensingMetrics(registry);
  const prefix = `${config.redis.keyPrefix}cachetest:${randomUUID()}:`;
  return { cache: createSeatCache({ redis: client, prefix, ttlSeconds: 60, load, metrics }), registry };
}

describe("seat cache", () => {
  it("serves a loaded state from Redis until the instance's epoch changes", async () => {
    let loads = 0;
    let banned = false;
    const { cache } = cacheWith(async (id) => {
      loads++;
      return state(id, banned);
    });
    const id = randomUUID();
    expect(await cache.get(id)).toEqual({ state: state(id, false), hit: false });
    expect(await cache.get(id)).toEqual({ state: state(id, false), hit: true });
    banned = true;
    await cache.invalidate([id]);
    expect(await cache.get(id)).toEqual({ state: state(id, true), hit: false });
    expect(loads).toBe(2);
  });

  it("never serves a state loaded before a change that committed while it was loading", async () => {
    const id = randomUUID();
    let banned = false;
    let raceOnce = true;
    const { cache } = createRacingCache();
    function createRacingCache() {
      const made = cacheWith(async (i) => {
        const before = state(i, banned);
        if (raceOnce) {
          raceOnce = false;
          // A revoke commits and invalidates after this reader read PostgreSQL, before it writes Redis.
          banned = true;
          await made.cache.invalidate([i]);
        }
        return before;
      });
      return made;
    }
    expect((await cache.get(id)).state?.banned).toBe(false); // the reader's own, already stale, answer
    const next = await cache.get(id);
    expect(next).toEqual({ state: state(id, true), hit: false });
  });

  it("answers from PostgreSQL when Redis is away, and counts it", async () => {
    const down = new Redis({
      host: "127.0.0.1",
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    down.on("error", () => {});
    const { cache, registry } = cacheWith(async (id) => state(id, false), down);
    const id = randomUUID();
    expect(await cache.get(id)).toEqual({ state: state(id, false), hit: false });
    expect(metricValue(await registry.metrics(), "smstats_licensing_cache_total", { result: "error" })).toBe(
      1,
    );
    down.disconnect();
  });
});

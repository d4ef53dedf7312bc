import type { Redis } from "ioredis";

/** The outcome of one rate-limit check. */
export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/** Counts requests per key in Redis: a window of `windowMs` starting at the key's first request. */
export interface RateLimiter {
  hit(key: string, limit: number): Promise<RateLimitResult>;
}

// INCR and PEXPIRE in one script: atomic across ingest processes, one round trip per request.
const SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/**
 * A per-key fixed window in Redis. Each instance has its own key, so one instance's excess is
 * answered from its own counter and never delays or counts against another.
 */
export function createRateLimiter(redis: Redis, prefix: string, windowMs = 60_000): RateLimiter {
  redis.defineCommand("smstatsRateHit", { numberOfKeys: 1, lua: SCRIPT });
  const hit = (redis as unknown as { smstatsRateHit(k: string, w: number): Promise<[number, number]> })
    .smstatsRateHit;
  return {
    async hit(key, limit) {
      const [count, ttl] = await hit.call(redis, `${prefix}rl:${key}`, windowMs);
      return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetMs: ttl };
    },
  };
}

import type { Redis } from "ioredis";

/** The outcome of admitting one request. */
export interface Admission {
  /** False when the instance is over its rate limit. */
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the rate-limit window resets. */
  resetMs: number;
  /** False when this signature was presented before (a replay). */
  firstUse: boolean;
}

/** Per-instance rate limit and once-only signatures, in one Redis round trip per request. */
export interface RequestGuard {
  admit(input: {
    instanceId: string;
    limit: number;
    signature: string;
    signatureTtlMs: number;
  }): Promise<Admission>;
}

// A fixed window per instance that starts at its first request (INCR + PEXPIRE), and SET NX of the
// signature. One script: atomic across ingest processes and one round trip on the hot path. A request
// over the limit does not consume its signature, so the client can send it again after Retry-After.
const SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
local first = 0
if n <= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then first = 1 end
end
return {n, ttl, first}`;

/**
 * A request guard in Redis. Each instance has its own counter, so one instance's excess is answered
 * from its own key and never counts against, or waits behind, another's.
 */
export function createRequestGuard(redis: Redis, prefix: string, windowMs = 60_000): RequestGuard {
  redis.defineCommand("smstatsAdmit", { numberOfKeys: 2, lua: SCRIPT });
  const run = (redis as unknown as { smstatsAdmit(...a: unknown[]): Promise<[number, number, number]> })
    .smstatsAdmit;
  return {
    async admit({ instanceId, limit, signature, signatureTtlMs }) {
      const [count, ttl, first] = await run.call(
        redis,
        `${prefix}rl:${instanceId}`,
        `${prefix}sig:${signature}`,
        windowMs,
        limit,
        signatureTtlMs,
      );
      return {
        allowed: count <= limit,
        limit,
        remaining: Math.max(0, limit - count),
        resetMs: ttl,
        firstUse: first === 1,
      };
    },
  };
}

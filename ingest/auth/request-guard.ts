import type { Redis } from "ioredis";

/** The outcome of admitting one verified request. */
export interface Admission {
  /** False when the instance is over its rate limit. */
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the rate-limit window resets. */
  resetMs: number;
  /** False when this signature was presented before (a replay); a replay is not counted. */
  firstUse: boolean;
}

/**
 * Per-instance rate limit, once-only signatures and a per-address count of bad signatures, in Redis. The
 * instance's counter only counts requests whose signature verified, so a stolen token without its secret
 * cannot use up the instance's quota; floods of bad signatures are stopped by the address's own counter.
 */
export interface RequestGuard {
  /** Counts a verified request and claims its signature (one round trip). */
  admit(input: {
    instanceId: string;
    limit: number;
    signature: string;
    signatureTtlMs: number;
  }): Promise<Admission>;
  /** Counts a badly signed request against its address; returns the count and ms until the window ends. */
  badSignature(address: string): Promise<{ count: number; resetMs: number }>;
}

// A fixed window per instance that starts at its first verified request (INCR + PEXPIRE), and SET NX of
// the signature. A signature seen before is answered as a replay without counting it. A request over the
// limit does not consume its signature, so the client can send it again after Retry-After.
const ADMIT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 0, 0} end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
local first = 0
if n <= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then first = 1 end
end
return {n, ttl, first}`;

const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`;

type Script<T> = (...a: unknown[]) => Promise<T>;

/**
 * A request guard in Redis. Each instance has its own counter, so one instance's excess is answered
 * from its own key and never counts against, or waits behind, another's.
 */
export function createRequestGuard(redis: Redis, prefix: string, windowMs = 60_000): RequestGuard {
  redis.defineCommand("smstatsAdmit2", { numberOfKeys: 2, lua: ADMIT });
  redis.defineCommand("smstatsBadSig", { numberOfKeys: 1, lua: HIT });
  const r = redis as unknown as {
    smstatsAdmit2: Script<[number, number, number]>;
    smstatsBadSig: Script<[number, number]>;
  };
  const badKey = (address: string) => `${prefix}badsig:${address}`;
  return {
    async admit({ instanceId, limit, signature, signatureTtlMs }) {
      const [count, ttl, first] = await r.smstatsAdmit2.call(
        redis,
        `${prefix}rl:${instanceId}`,
        `${prefix}sig:${signature}`,
        windowMs,
        limit,
        signatureTtlMs,
      );
      // count 0: the signature was used before; nothing was counted.
      if (count === 0) return { allowed: true, limit, remaining: limit, resetMs: 0, firstUse: false };
      return {
        allowed: count <= limit,
        limit,
        remaining: Math.max(0, limit - count),
        resetMs: ttl,
        firstUse: first === 1,
      };
    },
    async badSignature(address) {
      const [count, ttl] = await r.smstatsBadSig.call(redis, badKey(address), windowMs);
      return { count, resetMs: Math.max(0, ttl) };
    },
  };
}

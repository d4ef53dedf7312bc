import type { Redis } from "ioredis";
import { createTickBatcher } from "../../lib/clients/index.ts";

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

/** Per-instance rate limit and once-only signatures, in one Redis round trip per turn of the event loop. */
export interface RequestGuard {
  admit(input: {
    instanceId: string;
    limit: number;
    signature: string;
    signatureTtlMs: number;
  }): Promise<Admission>;
}

// A fixed window per instance that starts at its first request (INCR + PEXPIRE), and SET NX of the
// signature. One script: atomic across ingest processes. One call admits every request that reached
// this point in one turn of ingest's event loop (KEYS: counter and signature per request, in order;
// ARGV: window, then limit and signature TTL per request), so a burst costs one round trip, not one per
// request. A request over the limit does not consume its signature, so the client can send it again
// after Retry-After.
const SCRIPT = `
local out = {}
for r = 1, #KEYS / 2 do
  local kRate, kSig = KEYS[2 * r - 1], KEYS[2 * r]
  local n = redis.call('INCR', kRate)
  if n == 1 then redis.call('PEXPIRE', kRate, ARGV[1]) end
  local ttl = redis.call('PTTL', kRate)
  if ttl < 0 then redis.call('PEXPIRE', kRate, ARGV[1]); ttl = tonumber(ARGV[1]) end
  local first = 0
  if n <= tonumber(ARGV[2 * r]) then
    if redis.call('SET', kSig, '1', 'PX', ARGV[2 * r + 1], 'NX') then first = 1 end
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
  out[#out + 1] = first
end
return out`;

interface AdmitInput {
  instanceId: string;
  limit: number;
  signature: string;
  signatureTtlMs: number;
}

/**
 * A request guard in Redis. Each instance has its own counter, so one instance's excess is answered
 * from its own key and never counts against, or waits behind, another's.
 */
export function createRequestGuard(redis: Redis, prefix: string, windowMs = 60_000): RequestGuard {
  // Without numberOfKeys the first argument says how many keys follow.
  redis.defineCommand("smstatsAdmitMany", { lua: SCRIPT });
  const run = (redis as unknown as { smstatsAdmitMany(...a: unknown[]): Promise<number[]> }).smstatsAdmitMany;
  const admitMany = createTickBatcher<AdmitInput, Admission>(async (items) => {
    const keys = items.flatMap((i) => [`${prefix}rl:${i.instanceId}`, `${prefix}sig:${i.signature}`]);
    const args = items.flatMap((i) => [i.limit, i.signatureTtlMs]);
    const out = await run.call(redis, keys.length, ...keys, windowMs, ...args);
    return items.map(({ limit }, k) => {
      const count = out[3 * k] as number;
      return {
        allowed: count <= limit,
        limit,
        remaining: Math.max(0, limit - count),
        resetMs: out[3 * k + 1] as number,
        firstUse: out[3 * k + 2] === 1,
      };
    });
  });
  return { admit: admitMany };
}

import type { Redis } from "ioredis";
import { createTickBatcher } from "../../lib/clients/index.ts";

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
 * Admissions cost one Redis round trip per turn of the event loop, not one per request.
 */
export interface RequestGuard {
  /** Counts a verified request and claims its signature. */
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
// limit does not consume its signature, so the client can send it again after Retry-After. One script:
// atomic across ingest processes. One call admits every request that reached this point in one turn of
// ingest's event loop (KEYS: counter and signature per request, in order; ARGV: window, then limit and
// signature TTL per request).
const ADMIT_MANY = `
local out = {}
for r = 1, #KEYS / 2 do
  local kRate, kSig = KEYS[2 * r - 1], KEYS[2 * r]
  if redis.call('EXISTS', kSig) == 1 then
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = 0
  else
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
end
return out`;

const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`;

interface AdmitInput {
  instanceId: string;
  limit: number;
  signature: string;
  signatureTtlMs: number;
}

type Script<T> = (...a: unknown[]) => Promise<T>;

/**
 * A request guard in Redis. Each instance has its own counter, so one instance's excess is answered
 * from its own key and never counts against, or waits behind, another's.
 */
export function createRequestGuard(
  redis: Redis,
  prefix: string,
  windowMs = 60_000,
  /** What names an address in a key (the service passes PiiVault.addressTag: no clear address in Redis). */
  addressTag: (address: string) => string = (address) => address,
): RequestGuard {
  // Without numberOfKeys the first argument says how many keys follow.
  redis.defineCommand("smstatsAdmitMany2", { lua: ADMIT_MANY });
  redis.defineCommand("smstatsBadSig", { numberOfKeys: 1, lua: HIT });
  const r = redis as unknown as {
    smstatsAdmitMany2: Script<number[]>;
    smstatsBadSig: Script<[number, number]>;
  };
  const admitMany = createTickBatcher<AdmitInput, Admission>(async (items) => {
    const keys = items.flatMap((i) => [`${prefix}rl:${i.instanceId}`, `${prefix}sig:${i.signature}`]);
    const args = items.flatMap((i) => [i.limit, i.signatureTtlMs]);
    const out = await r.smstatsAdmitMany2.call(redis, keys.length, ...keys, windowMs, ...args);
    return items.map(({ limit }, k) => {
      const count = out[3 * k] as number;
      // count 0: the signature was used before; nothing was counted.
      if (count === 0) return { allowed: true, limit, remaining: limit, resetMs: 0, firstUse: false };
      return {
        allowed: count <= limit,
        limit,
        remaining: Math.max(0, limit - count),
        resetMs: out[3 * k + 1] as number,
        firstUse: out[3 * k + 2] === 1,
      };
    });
  });
  const badKey = (address: string) => `${prefix}badsig:${addressTag(address)}`;
  return {
    admit: admitMany,
    async badSignature(address) {
      const [count, ttl] = await r.smstatsBadSig.call(redis, badKey(address), windowMs);
      return { count, resetMs: Math.max(0, ttl) };
    },
  };
}

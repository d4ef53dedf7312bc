import type { Redis } from "ioredis";
import type { AbuseRule, LicensingMetrics } from "../metrics.ts";

/** Whether a subject is over a rule's limit, and for how long. */
export interface AbuseVerdict {
  blocked: boolean;
  count: number;
  /** Seconds until the window ends (at least 1 when blocked). */
  retryAfterSeconds: number;
}

/** Fixed-window counters per rule and subject (an address, an instance) in Redis, shared by every process. */
export interface AbuseGuard {
  /** Whether the subject already reached the limit; counts the refusal when it did. */
  check(rule: AbuseRule, subject: string, limit: number): Promise<AbuseVerdict>;
  /** Whether the subject already reached the limit, without counting a refusal (the caller decides). */
  peek(rule: AbuseRule, subject: string, limit: number): Promise<AbuseVerdict>;
  /** Counts one event against the subject; returns the count in the current window. */
  hit(rule: AbuseRule, subject: string, windowSeconds: number): Promise<number>;
  /** Counts one event and tells whether it went over the limit (for rules checked as they are counted). */
  hitAndCheck(rule: AbuseRule, subject: string, limit: number, windowSeconds: number): Promise<AbuseVerdict>;
}

// INCR + PEXPIRE at the window's first event, in one atomic step; answers the count and the time left.
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;
const PEEK = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
return {n, redis.call('PTTL', KEYS[1])}`;

type Script = (key: string, ...args: unknown[]) => Promise<[number, number]>;

/**
 * An abuse guard on a Redis client; keys are <prefix>abuse:<rule>:<tag of the subject>. Subjects are
 * addresses, key prefixes, hwids: the service passes a keyed tag (PiiVault.addressTag) so that no key name
 * in Redis holds one in clear.
 */
export function createAbuseGuard(
  redis: Redis,
  prefix: string,
  metrics: LicensingMetrics,
  subjectTag: (subject: string) => string = (subject) => subject,
): AbuseGuard {
  if (!("smstatsAbuseHit" in redis)) {
    redis.defineCommand("smstatsAbuseHit", { numberOfKeys: 1, lua: HIT });
    redis.defineCommand("smstatsAbusePeek", { numberOfKeys: 1, lua: PEEK });
  }
  const r = redis as unknown as { smstatsAbuseHit: Script; smstatsAbusePeek: Script };
  const key = (rule: string, subject: string) => `${prefix}abuse:${rule}:${subjectTag(subject)}`;
  const verdict = (
    rule: AbuseRule,
    count: number,
    ttl: number,
    blockAt: number,
    counted = true,
  ): AbuseVerdict => {
    const blocked = count >= blockAt;
    if (blocked && counted) metrics.abuse.inc({ rule });
    return { blocked, count, retryAfterSeconds: Math.max(1, Math.ceil(ttl / 1000)) };
  };
  return {
    async check(rule, subject, limit) {
      const [count, ttl] = await r.smstatsAbusePeek.call(redis, key(rule, subject));
      return verdict(rule, count, ttl, limit);
    },
    async peek(rule, subject, limit) {
      const [count, ttl] = await r.smstatsAbusePeek.call(redis, key(rule, subject));
      return verdict(rule, count, ttl, limit, false);
    },
    async hit(rule, subject, windowSeconds) {
      const [count] = await r.smstatsAbuseHit.call(redis, key(rule, subject), windowSeconds * 1000);
      return count;
    },
    async hitAndCheck(rule, subject, limit, windowSeconds) {
      const [count, ttl] = await r.smstatsAbuseHit.call(redis, key(rule, subject), windowSeconds * 1000);
      return verdict(rule, count, ttl, limit + 1);
    },
  };
}

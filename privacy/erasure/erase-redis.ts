import type { Redis } from "ioredis";
import { type ErasureSubject, subjectNeedles } from "./subject.ts";

/** Everything a Redis key holds, as text, for matching (strings, and the members of other types). */
export async function redisValueText(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  if (type === "string") return (await redis.get(key)) ?? "";
  if (type === "hash") return (await redis.hgetall(key).then((h) => Object.entries(h).flat())).join("\n");
  if (type === "set") return (await redis.smembers(key)).join("\n");
  if (type === "zset") return (await redis.zrange(key, "0", "-1")).join("\n");
  if (type === "list") return (await redis.lrange(key, 0, -1)).join("\n");
  return "";
}

/**
 * Deletes every key under the service's prefix whose name or value holds one of the subject's
 * identifiers: the seat cache and epoch, rate-limit and sequence counters, abuse counters by address tag,
 * and anything keyed later by instance, hwid, e-mail or address. Keys are found with SCAN (never KEYS).
 */
export async function eraseRedis(
  redis: Redis,
  prefix: string,
  s: ErasureSubject,
): Promise<Record<string, number>> {
  // Abuse and bad-signature counters name an address by its keyed tag (PiiVault.addressTag), not in clear.
  const needles = [...subjectNeedles(s), ...(s.addressTags ?? []).map((t) => t.replace(/^ip:/, ""))];
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const holds = containsAny(key, needles) || containsAny(await redisValueText(redis, key), needles);
      if (holds) deleted += await redis.del(key);
    }
  } while (cursor !== "0");
  return deleted ? { "redis.keys": deleted } : {};
}

function containsAny(text: string, needles: string[]): boolean {
  const lower = text.toLowerCase();
  return needles.some((n) => lower.includes(n.toLowerCase()));
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, "\\$&");
}

import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { LicensingMetrics } from "../metrics.ts";
import type { SeatState } from "./seat-state.ts";

/** Seat states cached in Redis, shared by every ingest process, invalidated at once on a change. */
export interface SeatCache {
  /** The instance's state (cached, or loaded and cached); undefined for an unknown instance. */
  get(instanceId: string): Promise<{ state: SeatState | undefined; hit: boolean }>;
  /** Makes every cached state of these instances stale; the next read loads from PostgreSQL. */
  invalidate(instanceIds: Iterable<string>): Promise<void>;
  /** Makes every cached state stale (tier policies changed). */
  invalidateAll(): Promise<void>;
}

/**
 * Why epochs and not just DEL: a reader that loaded from PostgreSQL just before a revoke committed could
 * write its stale state after the revoke's DEL, and it would live for the whole TTL. Here each entry is
 * stamped with the instance's (and the global) epoch as read BEFORE loading; a change sets a new random
 * epoch AFTER committing. A state loaded before the commit therefore carries an epoch that no longer
 * matches, and is never served. One MGET per read.
 */
export function createSeatCache(opts: {
  redis: Redis;
  prefix: string;
  ttlSeconds: number;
  load: (instanceId: string) => Promise<SeatState | undefined>;
  metrics: LicensingMetrics;
}): SeatCache {
  const { redis, prefix, ttlSeconds, metrics } = opts;
  const stateKey = (id: string) => `${prefix}lic:seat:${id}`;
  const epochKey = (id: string) => `${prefix}lic:epoch:${id}`;
  const globalKey = `${prefix}lic:epoch`;
  const newEpoch = () => randomBytes(9).toString("base64url");
  // Epochs outlive every entry stamped with them; an epoch that expired reads as "-", which no live entry
  // stamped after a change can carry.
  const epochTtl = ttlSeconds * 2 + 60;
  return {
    async get(instanceId) {
      let stamp: string | undefined;
      try {
        const [entry, epoch, global] = await redis.mget(
          stateKey(instanceId),
          epochKey(instanceId),
          globalKey,
        );
        stamp = `${epoch ?? "-"}.${global ?? "-"}`;
        if (entry) {
          const cut = entry.indexOf("|");
          if (entry.slice(0, cut) === stamp) {
            metrics.cache.inc({ result: "hit" });
            return { state: JSON.parse(entry.slice(cut + 1)) as SeatState, hit: true };
          }
        }
        metrics.cache.inc({ result: "miss" });
      } catch {
        // Redis away: PostgreSQL answers, nothing is cached, and it is counted.
        metrics.cache.inc({ result: "error" });
      }
      const state = await opts.load(instanceId);
      if (state && stamp !== undefined) {
        await redis
          .set(stateKey(instanceId), `${stamp}|${JSON.stringify(state)}`, "EX", ttlSeconds)
          .catch(() => {
            metrics.cache.inc({ result: "error" });
          });
      }
      return { state, hit: false };
    },
    async invalidate(instanceIds) {
      const ids = [...new Set(instanceIds)];
      if (ids.length === 0) return;
      const multi = redis.multi();
      for (const id of ids) multi.set(epochKey(id), newEpoch(), "EX", epochTtl);
      // Told to every ingest process at once, so in-process caches (identity, tier) drop these instances.
      multi.publish(instanceChangesChannel(prefix), ids.join(" "));
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (!results || failed) throw failed?.[0] ?? new Error("cache invalidation was not executed");
    },
    async invalidateAll() {
      await redis.set(globalKey, newEpoch(), "EX", epochTtl);
    },
  };
}

/** The Redis channel on which every change to instances' licensing state is published (their ids). */
export function instanceChangesChannel(prefix: string): string {
  return `${prefix}lic:changed`;
}

/**
 * Subscribes to instance changes on a connection of its own (a subscribed connection can do nothing
 * else) and calls onChange with each changed instance id. Returns the unsubscribe-and-close step.
 */
export async function subscribeInstanceChanges(
  redis: Redis,
  prefix: string,
  onChange: (instanceId: string) => void,
): Promise<() => Promise<void>> {
  // Connected before subscribing: the service's connections queue nothing while offline.
  const sub = redis.duplicate({ lazyConnect: true });
  const channel = instanceChangesChannel(prefix);
  sub.on("message", (ch: string, message: string) => {
    if (ch !== channel) return;
    for (const id of message.split(" ")) if (id) onChange(id);
  });
  // The duplicate's own errors are the main connection's concern (health checks); never unhandled.
  sub.on("error", () => {});
  await sub.connect();
  await sub.subscribe(channel);
  return async () => {
    await sub.quit().catch(() => sub.disconnect());
  };
}

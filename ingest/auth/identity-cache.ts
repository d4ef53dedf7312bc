import type { Consent } from "../routes/v1/stats/check-items.ts";

/** What ingest needs to know about an instance on every request. */
export interface InstanceIdentity {
  instanceId: string;
  tier: string;
  banned: boolean;
  /** The per-instance request-signing secret issued at registration. */
  signingSecret: Buffer;
  consent: Consent;
}

/** Looks up identities through a short-lived in-process cache. */
export interface IdentityCache {
  get(instanceId: string): Promise<InstanceIdentity | undefined>;
  /** Drops an instance's entry, so this process's next request reads the database (a consent change). */
  forget(instanceId: string): void;
}

/**
 * Caches identities for `ttlMs` and shares one load among concurrent requests of an instance, so the
 * database sees at most one query per instance per TTL and process. A ban or consent change therefore
 * takes effect within `ttlMs`.
 */
export function createIdentityCache(
  load: (instanceId: string) => Promise<InstanceIdentity | undefined>,
  ttlMs: number,
  maxEntries = 100_000,
): IdentityCache {
  const entries = new Map<string, { at: number; value: Promise<InstanceIdentity | undefined> }>();
  return {
    get(instanceId) {
      const now = Date.now();
      const hit = entries.get(instanceId);
      if (hit && now - hit.at < ttlMs) return hit.value;
      const value = load(instanceId);
      // A failed load is not cached: the next request tries again.
      value.catch(() => entries.delete(instanceId));
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(instanceId, { at: now, value });
      return value;
    },
    forget(instanceId) {
      entries.delete(instanceId);
    },
  };
}

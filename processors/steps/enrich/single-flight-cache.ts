/** Limits of a single-flight cache. */
export interface SingleFlightCacheOptions {
  /** How long a loaded value is served before the next call loads it again, ms. */
  ttlMs: number;
  /** Most keys kept; past it the least recently used key is forgotten. */
  maxEntries: number;
  /** The clock, ms; Date.now unless a test steps time itself. */
  now?: () => number;
}

/**
 * Wraps an async load in a TTL cache that shares one load among concurrent callers of a key, so the
 * source sees at most one load per key per TTL. Failed loads are not cached: the next call tries again.
 */
export function singleFlightCache<V>(
  load: (key: string) => Promise<V>,
  opts: SingleFlightCacheOptions,
): (key: string) => Promise<V> {
  const { ttlMs, maxEntries, now = Date.now } = opts;
  const entries = new Map<string, { at: number; value: Promise<V> }>();
  return (key) => {
    const t = now();
    const hit = entries.get(key);
    // Deleting and setting again moves the key to the end of the Map's order: the end is most recent.
    if (hit) entries.delete(key);
    if (hit && t - hit.at < ttlMs) {
      entries.set(key, hit);
      return hit.value;
    }
    const entry = { at: t, value: load(key) };
    entry.value.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
    });
    while (entries.size >= maxEntries && entries.size > 0) {
      entries.delete(entries.keys().next().value as string);
    }
    entries.set(key, entry);
    return entry.value;
  };
}

/** What this process learned about a key (an instance, an address) from Redis: a count and its window's end. */
export interface LocalBlocks {
  /** The count last seen for the key while its window is open; undefined when none is known. */
  get(key: string, now?: number): { count: number; untilMs: number } | undefined;
  /** Records the count Redis answered and when its window ends. */
  set(key: string, count: number, untilMs: number): void;
}

/**
 * Counts learned from Redis, kept in-process until their window ends, so requests over a limit are refused
 * before their body is read without a Redis round trip on every request. Another process learns the same
 * from its own next request (Redis stays the one shared count). Bounded: the oldest entry goes first.
 */
export function createLocalBlocks(maxEntries = 100_000): LocalBlocks {
  const entries = new Map<string, { count: number; untilMs: number }>();
  return {
    get(key, now = Date.now()) {
      const e = entries.get(key);
      if (!e) return undefined;
      if (e.untilMs <= now) {
        entries.delete(key);
        return undefined;
      }
      return e;
    },
    set(key, count, untilMs) {
      entries.delete(key);
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, { count, untilMs });
    },
  };
}

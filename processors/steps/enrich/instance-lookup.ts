import type pg from "pg";
import { isUuid } from "../../../licensing/index.ts";
import { singleFlightCache } from "./single-flight-cache.ts";

/** What enrich needs from an instance's row in PostgreSQL. */
export interface InstanceRecord {
  /** The instance's current tier (starter, …). */
  tier: string;
  /** The platform it registered with; '' when it sent none. */
  platform: string;
  /** The SongMartyn version it registered with; '' when it sent none. */
  version: string;
}

/** Finds an instance by id; undefined when PostgreSQL has no such instance. Rejects when PostgreSQL fails. */
export type InstanceLookup = (instanceId: string) => Promise<InstanceRecord | undefined>;

/** Cache limits of an instance lookup. */
export interface InstanceLookupOptions {
  /** How long an answer (found or not) is reused, ms; a tier change is seen within this time. */
  ttlMs: number;
  /** Most instances kept in memory per process. */
  maxEntries: number;
  /** The clock, ms; Date.now unless a test steps time itself. */
  now?: () => number;
}

/**
 * Reads instances from PostgreSQL through an in-process TTL cache with one query in flight per instance.
 * "Not found" is cached too, so the batches of an erased instance cost one query per TTL, not one each.
 */
export function createInstanceLookup(pool: pg.Pool, opts: InstanceLookupOptions): InstanceLookup {
  const cached = singleFlightCache<InstanceRecord | undefined>(async (instanceId) => {
    const { rows } = await pool.query<{ tier: string; platform: string | null; version: string | null }>(
      "SELECT tier, platform, version FROM instances WHERE id = $1",
      [instanceId],
    );
    const row = rows[0];
    return row && { tier: row.tier, platform: row.platform ?? "", version: row.version ?? "" };
  }, opts);
  // PostgreSQL would reject a malformed id as an error, which the caller would retry for ever.
  return (instanceId) => (isUuid(instanceId) ? cached(instanceId) : Promise.resolve(undefined));
}

import { userInfo } from "node:os";
import type { Redis } from "ioredis";
import type pg from "pg";
import { connectRedis, createPgPool } from "../lib/clients/index.ts";
import { loadConfig, requirePostgresRole } from "../lib/config/index.ts";
import { createRegistry } from "../lib/metrics/index.ts";
import {
  type Actor,
  createSeatCache,
  licensingMetrics,
  loadPiiVault,
  loadSeatState,
  type PiiVault,
  type SeatCache,
} from "../licensing/index.ts";

/** What the licensing commands work with: the write role's pool, the seat cache in Redis, and the actor. */
export interface LicensingContext {
  pool: pg.Pool;
  redis: Redis;
  cache: SeatCache;
  /** Opens and seals owner emails (the CLI runs on the service's machine, with its keys). */
  vault: PiiVault;
  actor: Actor;
  close(): Promise<void>;
}

/**
 * Opens the licensing stores as the service's write role. The actor in the audit log is the operator's
 * OS user (the CLI runs on the service's machine, with its secrets), optionally with --as NAME (e.g. a ticket or a person acting through a shared account).
 */
export async function openLicensingContext(as?: string): Promise<LicensingContext> {
  const config = loadConfig();
  const pool = createPgPool(requirePostgresRole(config, "write"), "smstats-cli", 2, config.postgres.tls);
  const redis = await connectRedis(config.redis.url, "smstats-cli", config.redis.tls);
  const cache = createSeatCache({
    redis,
    prefix: config.redis.keyPrefix,
    ttlSeconds: config.licensing.cacheTtlSeconds,
    load: (id) => loadSeatState(pool, id),
    metrics: licensingMetrics(createRegistry("cli")),
  });
  const name = `cli:${userInfo().username}${as ? `(${as})` : ""}`;
  return {
    pool,
    redis,
    cache,
    vault: await loadPiiVault(config.dataDir),
    actor: { name, source: "cli" },
    async close() {
      await Promise.allSettled([pool.end(), redis.quit()]);
    },
  };
}

/** Prints a value as JSON or as aligned "key: value" lines. */
export function print(value: unknown, json: boolean): void {
  if (json || typeof value !== "object" || value === null) {
    console.log(JSON.stringify(value, null, 2));
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    console.log(`${k.padEnd(18)} ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`);
  }
}

import type { Redis } from "ioredis";

/** Remembers request signatures so each is accepted once. */
export interface ReplayGuard {
  /** True the first time a signature is seen within `ttlMs`, false after. */
  firstUse(signature: string, ttlMs: number): Promise<boolean>;
}

/** A replay guard in Redis (SET NX with expiry), shared by every ingest process. */
export function createReplayGuard(redis: Redis, prefix: string): ReplayGuard {
  return {
    async firstUse(signature, ttlMs) {
      return (await redis.set(`${prefix}sig:${signature}`, "1", "PX", ttlMs, "NX")) === "OK";
    },
  };
}

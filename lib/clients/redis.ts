import { Redis } from "ioredis";
import type { ClientTls } from "../config/index.ts";
import { redisTlsOptions } from "./tls.ts";

/**
 * Connects a Redis client that fails commands at once while disconnected (no offline queue) and keeps
 * reconnecting in the background, so a Redis outage degrades requests instead of stalling them.
 * Resolves once the first connection is ready. `tls` (config.redis.tls) makes it talk TLS.
 */
export async function connectRedis(url: string, name: string, tls?: ClientTls): Promise<Redis> {
  const tlsOptions = redisTlsOptions(tls);
  const redis = new Redis(url, {
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    lazyConnect: true,
    // Commands issued in the same tick go out in one write: under load that is most of Redis's cost here.
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface through readiness checks; the 'error' event must have a listener.
  redis.on("error", () => {});
  await redis.connect();
  return redis;
}

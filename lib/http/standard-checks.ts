import type { HealthCheck } from "./health.ts";

/** NATS: connected, and a JetStream probe answers (the stream's or the consumer's info). */
export function natsCheck(
  nats: { connected(): boolean },
  probe: () => Promise<unknown>,
  required = true,
): HealthCheck {
  return {
    path: "/health/nats",
    required,
    run: async () => {
      if (!nats.connected()) throw new Error("not connected");
      await probe();
    },
  };
}

/** PostgreSQL: the pool runs `SELECT 1`. */
export function postgresCheck(pool: { query(sql: string): Promise<unknown> }, required = true): HealthCheck {
  return { path: "/health/db", required, run: () => pool.query("SELECT 1") };
}

/** Redis: the client's PING answers. */
export function redisCheck(redis: { ping(): Promise<unknown> }, required = true): HealthCheck {
  return { path: "/health/redis", required, run: () => redis.ping() };
}

/** ClickHouse: the client's ping succeeds (its error is the check's). */
export function clickhouseCheck(
  client: { ping(): Promise<{ success: boolean; error?: Error } | { success: false; error: Error }> },
  required: boolean,
): HealthCheck {
  return {
    path: "/health/clickhouse",
    required,
    run: async () => {
      const r = await client.ping();
      if (!r.success) throw (r as { error?: Error }).error ?? new Error("ClickHouse did not answer");
    },
  };
}

import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Config } from "../../lib/config/index.ts";
import { clickhouseCheck, health, natsCheck, postgresCheck, redisCheck } from "../../lib/http/index.ts";
import type { IngestDeps } from "../deps.ts";

/** Options of the ingest's health routes. */
export interface HealthChecksOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
}

/**
 * /health/live, /health/ready and one route per dependency. Ingest does not depend on ClickHouse
 * (JetStream buffers while it is away): /health/clickhouse reports it, readiness does not wait for it.
 */
async function healthChecks(app: FastifyInstance, { config, deps }: HealthChecksOptions) {
  await app.register(health, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    timeoutMs: config.ingest.healthTimeoutMs,
    checks: {
      nats: natsCheck(deps.nats, () => deps.jsm.streams.info(config.nats.stream)),
      postgres: postgresCheck(deps.pg),
      redis: redisCheck(deps.redis),
      clickhouse: clickhouseCheck(deps.clickhouse, false),
    },
  });
}

/** The ingest's health checks as a plugin of the whole app. */
export default fp(healthChecks, { name: "smstats-ingest-health" });

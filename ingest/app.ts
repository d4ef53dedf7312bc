import type { FastifyInstance } from "fastify";
import { Counter } from "prom-client";
import type { Config } from "../lib/config/index.ts";
import { createHttpServer, errorHandler, health, metricsPlugin } from "../lib/http/index.ts";
import { componentMetrics } from "../lib/metrics/index.ts";
import type { IngestDeps } from "./deps.ts";
import { batchRoute } from "./routes/v1/stats/batch.ts";

/**
 * Builds the ingest HTTP app on given dependencies. It never listens: server.ts does, tests use inject().
 */
export async function buildApp(config: Readonly<Config>, deps: IngestDeps): Promise<FastifyInstance> {
  const app = createHttpServer(deps.log, {
    bodyLimit: config.ingest.bodyLimit,
    return503OnClosing: true,
    requestTimeout: 30_000,
    ajv: { customOptions: { allErrors: false } },
  });
  // Batches are JSON (Avro bodies come with their own parser); Fastify's default text parser would
  // turn a text body into a validation error instead of the 415 it deserves.
  app.removeContentTypeParser("text/plain");
  const errors = new Counter({
    name: "smstats_http_errors_total",
    help: "Error responses, by stable error code.",
    labelNames: ["code"],
    registers: [deps.metrics],
  });
  await app.register(errorHandler, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    onError: (code) => errors.inc({ code }),
  });
  await app.register(metricsPlugin, { registry: deps.metrics });
  await app.register(health, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    checks: {
      nats: {
        path: "/health/nats",
        required: true,
        run: async () => {
          if (!deps.nats.connected()) throw new Error("not connected");
          await deps.jsm.streams.info(config.nats.stream);
        },
      },
      postgres: { path: "/health/db", required: true, run: () => deps.pg.query("SELECT 1") },
      redis: { path: "/health/redis", required: true, run: () => deps.redis.ping() },
      // Ingest does not depend on ClickHouse (JetStream buffers while it is away), so it is reported only.
      clickhouse: {
        path: "/health/clickhouse",
        required: false,
        run: async () => {
          const r = await deps.clickhouse.ping();
          if (!r.success) throw r.error;
        },
      },
    },
  });
  await app.register(batchRoute, {
    publisher: deps.publisher,
    maxMetrics: config.ingest.maxMetrics,
    batches: componentMetrics(deps.metrics, "http_batch_source", "batches"),
    metrics: componentMetrics(deps.metrics, "http_batch_source_metrics", "metrics"),
  });
  return app;
}

import type { FastifyInstance } from "fastify";
import type { Config } from "../lib/config/index.ts";
import { createHttpServer, metricsRoute } from "../lib/http/index.ts";
import type { IngestDeps } from "./deps.ts";

/**
 * ingest's /metrics on a listener of its own (config.ingest.metrics, loopback by default): the API
 * listener, which faces instances, does not serve it. It answers nothing else, is never shed (it is how
 * operators see an overload) and, like buildApp, never listens itself: server.ts does.
 */
export async function buildMetricsApp(
  config: Readonly<Config>,
  deps: Pick<IngestDeps, "metrics" | "log">,
): Promise<FastifyInstance> {
  const app = createHttpServer(deps.log, { requestTimeout: config.ingest.timeouts.requestMs });
  await app.register(metricsRoute, { registry: deps.metrics });
  return app;
}

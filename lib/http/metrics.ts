import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Counter, type Registry } from "prom-client";
import { durationHistogram } from "../metrics/index.ts";

/** Options of the metrics plugin. */
export interface MetricsPluginOptions {
  registry: Registry;
}

/** Serves the registry at /metrics and counts every HTTP answer by route, method and status. */
async function metrics(app: FastifyInstance, opts: MetricsPluginOptions) {
  const requests = new Counter({
    name: "smstats_http_requests_total",
    help: "HTTP requests answered, by route, method and status.",
    labelNames: ["route", "method", "status"],
    registers: [opts.registry],
  });
  const duration = durationHistogram(
    opts.registry,
    "smstats_http_request_duration_seconds",
    "HTTP request duration.",
    ["route", "method"],
  );
  app.addHook("onResponse", async (request, reply) => {
    // The route pattern, never the raw URL: unbounded label values would explode the series count.
    const route = request.routeOptions.url ?? "unmatched";
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });
  const schema = {
    summary: "Prometheus metrics",
    tags: ["health"],
    produces: [opts.registry.contentType],
    response: { 200: { type: "string", description: "Prometheus text exposition format" } },
  };
  app.get("/metrics", { schema }, async (_req, reply) => {
    reply.type(opts.registry.contentType);
    return opts.registry.metrics();
  });
}

/** The /metrics route and request counters as a plugin. */
export default fp(metrics, { name: "smstats-metrics" });

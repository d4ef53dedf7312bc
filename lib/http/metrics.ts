import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { Counter, type Registry } from "prom-client";
import { durationHistogram } from "../metrics/index.ts";

/** Options of the metrics plugin. */
export interface MetricsPluginOptions {
  registry: Registry;
  /**
   * The tier label of a request (SLOs are per tier), e.g. the authenticated instance's. Values outside
   * `tiers` become "other" and unauthenticated requests "none", so the label's cardinality stays bounded.
   */
  tierOf?: (request: FastifyRequest) => string | undefined;
  tiers?: readonly string[];
  /**
   * Serve GET /metrics on this app (default true). false: only count answers; the registry is served
   * on a listener of its own (ingest's metrics listener), never on the API.
   */
  serve?: boolean;
}

/** Counts every HTTP answer by route, method and status, and serves the registry at /metrics unless told not to. */
async function metrics(app: FastifyInstance, opts: MetricsPluginOptions) {
  const requests = new Counter({
    name: "smstats_http_requests_total",
    help: "HTTP requests answered, by route, method and status.",
    labelNames: ["route", "method", "status", "tier"],
    registers: [opts.registry],
  });
  const duration = durationHistogram(
    opts.registry,
    "smstats_http_request_duration_seconds",
    "HTTP request duration.",
    ["route", "method", "tier"],
  );
  const tiers = new Set(opts.tiers ?? ["starter", "party_host", "venue"]);
  const tierLabel = (request: FastifyRequest) => {
    const t = opts.tierOf?.(request);
    return t === undefined ? "none" : tiers.has(t) ? t : "other";
  };
  app.addHook("onResponse", async (request, reply) => {
    // The route pattern, never the raw URL: unbounded label values would explode the series count.
    const route = request.routeOptions.url ?? "unmatched";
    const tier = tierLabel(request);
    requests.inc({ route, method: request.method, status: String(reply.statusCode), tier });
    duration.observe({ route, method: request.method, tier }, reply.elapsedTime / 1000);
  });
  if (opts.serve !== false) await metricsRoute(app, { registry: opts.registry });
}

/** GET /metrics: the registry in Prometheus's text format. */
export async function metricsRoute(app: FastifyInstance, opts: { registry: Registry }) {
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

import type { FastifyInstance } from "fastify";
import { buildApp } from "../../ingest/app.ts";
import { createIngestDeps, type IngestDeps } from "../../ingest/deps.ts";
import { buildMetricsApp } from "../../ingest/metrics-listener.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";

/** An ingest app on the test namespace of the real local stack, for inject() tests; `env` overrides settings. */
export async function testIngest(env: Record<string, string> = {}): Promise<{
  app: FastifyInstance;
  deps: IngestDeps;
  config: Readonly<Config>;
}> {
  const config = loadConfig({ ...process.env, ...env });
  const deps = await createIngestDeps(
    config,
    createLogger("ingest-test", (process.env.SMTEST_LOG as "error") ?? "silent"),
  );
  const app = await buildApp(config, deps);
  return { app, deps, config };
}

const metricsApps = new WeakMap<IngestDeps, Promise<FastifyInstance>>();

/** GET /metrics on the ingest's own metrics listener (built once per deps), as Prometheus scrapes it. */
export async function scrapeMetrics(config: Readonly<Config>, deps: IngestDeps) {
  let app = metricsApps.get(deps);
  if (!app) {
    app = buildMetricsApp(config, deps);
    metricsApps.set(deps, app);
  }
  return (await app).inject({ method: "GET", url: "/metrics" });
}

/** The seed's example batch body, with an instance id unique to the caller. */
export function seedBody(instanceId: string) {
  return {
    instance_id: instanceId,
    timestamp: "2026-01-06T12:00:00Z",
    metrics: [
      { name: "songs_played_total", value: 42, tags: { source: "youtube" } },
      { name: "users_peak_concurrent", value: 15 },
    ],
  };
}

/** A unique id for one test's data. */
export function uniqueId(label: string): string {
  return `${label}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

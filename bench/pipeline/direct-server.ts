import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { clusterInsertSettings, createClickHouseClient, createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { clickhouseDateTime } from "../../processors/steps/route/index.ts";

// What a user might build instead of the pipeline: an HTTP handler that writes each request straight into
// the database, with no auth, no queue and no batching across requests (which flatters it). Modes:
//   clickhouse  one INSERT per request into metrics_quality (the same table, rollup views included)
//   postgres    one multi-row INSERT per request into a plain metrics table (the seed's single-database design)
// Usage: direct-server.ts --port <n> --mode clickhouse|postgres

interface Body {
  instance_id: string;
  batch_id?: string;
  timestamp: string;
  metrics: { name: string; value: number; tags?: Record<string, string>; time?: string }[];
}

const { values } = parseArgs({ options: { port: { type: "string" }, mode: { type: "string" } } });
const port = Number(values.port);
const mode = values.mode;
if (!Number.isInteger(port) || port <= 0 || (mode !== "clickhouse" && mode !== "postgres")) {
  console.error("direct-server: --port <n> --mode clickhouse|postgres");
  process.exit(2);
}
const config = loadConfig();
const ch =
  mode === "clickhouse"
    ? createClickHouseClient({
        ...config.clickhouse,
        settings: clusterInsertSettings(config.clickhouse),
      })
    : undefined;
const pool = mode === "postgres" ? createPgPool(config.postgres.url, "bench-direct", 16) : undefined;
await pool?.query(`CREATE TABLE IF NOT EXISTS bench_direct_metrics (
  time timestamptz NOT NULL, instance_id text NOT NULL, batch_id text NOT NULL, row_index int NOT NULL,
  metric_name text NOT NULL, value double precision NOT NULL, tags jsonb NOT NULL)`);

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.post<{ Body: Body }>("/v1/stats/batch", async (request, reply) => {
  const b = request.body;
  const batchId = b.batch_id ?? randomUUID();
  const received = Date.now();
  if (ch) {
    const rows = b.metrics.map((m, i) => {
      const tags = m.tags ?? {};
      const keys = Object.keys(tags).sort();
      return {
        time: clickhouseDateTime(m.time ? Date.parse(m.time) : Date.parse(b.timestamp)),
        instance_id: b.instance_id,
        tier: "starter",
        app_version: "1.4.2",
        platform: "linux",
        country: "",
        batch_id: batchId,
        row_index: i,
        received_at: clickhouseDateTime(received),
        metric_name: m.name,
        value: m.value,
        "tags.key": keys,
        "tags.value": keys.map((k) => tags[k] as string),
      };
    });
    await ch.insert({ table: "metrics_quality", values: rows, format: "JSONEachRow" });
  } else if (pool) {
    await pool.query(
      `INSERT INTO bench_direct_metrics SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::int[], $5::text[], $6::float8[], $7::jsonb[])`,
      [
        b.metrics.map((m) => m.time ?? b.timestamp),
        b.metrics.map(() => b.instance_id),
        b.metrics.map(() => batchId),
        b.metrics.map((_, i) => i),
        b.metrics.map((m) => m.name),
        b.metrics.map((m) => m.value),
        b.metrics.map((m) => JSON.stringify(m.tags ?? {})),
      ],
    );
  }
  return reply.code(202).send({ accepted: b.metrics.length });
});
await app.listen({ host: "127.0.0.1", port });

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(
    signal,
    () =>
      void app
        .close()
        .then(() => Promise.all([ch?.close(), pool?.end()]))
        .then(() => process.exit(0)),
  );
}

import { createHash, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import Fastify, { type FastifyRequest } from "fastify";
import { createIdentityCache } from "../../ingest/auth/identity-cache.ts";
import { clusterInsertSettings, createClickHouseClient, createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  bearerToken,
  createTokenVerifier,
  isFreshTimestamp,
  loadInstanceAuth,
  loadKeyRing,
  loadSecretBox,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyRequestSignature,
} from "../../licensing/index.ts";
import { clickhouseDateTime } from "../../processors/steps/route/index.ts";
import { DIRECT_PG_TABLE } from "./rows.ts";

// What a user might build instead of the pipeline: an HTTP handler that writes each request straight into
// the database, with no queue and no batching across requests. Modes:
//   clickhouse  one INSERT per request into metrics_quality (the same table, rollup views included), no auth
//   postgres    the design's single-database plan, built as its authors would: the same token and signature
//               checks as ingest (the EdDSA instance token verified once per token and then looked up, the
//               instance's signing secret from PostgreSQL through the same short-lived cache, the timestamp
//               window and the HMAC over the body as sent), then one multi-row INSERT per request into a
//               table shaped like metrics_quality with a time-series table's indexes (time; instance and
//               time), at PostgreSQL's default durability (synchronous_commit on; the stack runs fsync on).
//               Left out, which flatters it: the once-only signature store and the rate limit (Redis).
// Usage: direct-server.ts --port <n> --mode clickhouse|postgres

interface Body {
  instance_id: string;
  batch_id?: string;
  timestamp: string;
  app_version?: string;
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
if (pool) {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${DIRECT_PG_TABLE} (
    time timestamptz NOT NULL, instance_id text NOT NULL, tier text NOT NULL, app_version text NOT NULL,
    platform text NOT NULL, country text NOT NULL, batch_id text NOT NULL, row_index int NOT NULL,
    received_at timestamptz NOT NULL, metric_name text NOT NULL, value double precision NOT NULL,
    tags jsonb NOT NULL)`);
  await pool.query(`CREATE INDEX IF NOT EXISTS ${DIRECT_PG_TABLE}_time ON ${DIRECT_PG_TABLE} (time)`);
  await pool.query(
    `CREATE INDEX IF NOT EXISTS ${DIRECT_PG_TABLE}_instance_time ON ${DIRECT_PG_TABLE} (instance_id, time)`,
  );
}
const auth = pool
  ? await (async () => {
      const ring = await loadKeyRing(config.dataDir);
      const box = await loadSecretBox(config.dataDir);
      return {
        tokens: createTokenVerifier(ring, {
          cacheSize: config.tokens.cacheSize,
          clockToleranceSec: config.tokens.clockToleranceSeconds,
        }),
        identities: createIdentityCache(
          (id) => loadInstanceAuth(pool, box, id),
          config.ingest.identityCacheMs,
        ),
      };
    })()
  : undefined;

declare module "fastify" {
  interface FastifyRequest {
    directSha256?: string;
  }
}

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
// The signature covers the body as sent: keep its digest beside the parsed value.
app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, raw: Buffer, done) => {
  if (auth) (request as FastifyRequest).directSha256 = createHash("sha256").update(raw).digest("hex");
  try {
    done(null, JSON.parse(raw.toString("utf8")));
  } catch (err) {
    done(err as Error, undefined);
  }
});

// The same checks as ingest's authentication, in its order; any failure is a 401.
async function authenticate(request: FastifyRequest<{ Body: Body }>) {
  if (!auth) return undefined;
  const claims = await auth.tokens.verify(bearerToken(request.headers.authorization));
  const timestamp = String(request.headers[TIMESTAMP_HEADER] ?? "");
  if (!isFreshTimestamp(timestamp, { windowSeconds: config.ingest.signatureWindowMs / 1000 }))
    return undefined;
  const identity = await auth.identities.get(claims.sub);
  if (!identity || identity.banned || identity.instanceId !== request.body.instance_id) return undefined;
  const signed = verifyRequestSignature({
    secret: identity.signingSecret,
    method: request.method,
    path: request.url,
    timestamp,
    bodySha256Hex: request.directSha256 ?? "",
    signature: request.headers[SIGNATURE_HEADER] as string | undefined,
  });
  return signed ? identity : undefined;
}

app.post<{ Body: Body }>("/v1/stats/batch", async (request, reply) => {
  const b = request.body;
  const identity = pool ? await authenticate(request).catch(() => undefined) : undefined;
  if (pool && !identity) return reply.code(401).send({ error: { code: "UNAUTHENTICATED", message: "no" } });
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
  } else if (pool && identity) {
    const n = b.metrics.length;
    const same = <T>(v: T) => Array.from({ length: n }, () => v);
    await pool.query(
      `INSERT INTO ${DIRECT_PG_TABLE} SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::timestamptz[], $10::text[], $11::float8[], $12::jsonb[])`,
      [
        b.metrics.map((m) => m.time ?? b.timestamp),
        same(b.instance_id),
        same(identity.tier),
        same(b.app_version ?? ""),
        same("linux"),
        same(""),
        same(batchId),
        b.metrics.map((_, i) => i),
        same(new Date(received).toISOString()),
        b.metrics.map((m) => m.name),
        b.metrics.map((m) => m.value),
        b.metrics.map((m) => JSON.stringify(m.tags ?? {})),
      ],
    );
  }
  return reply.code(202).send({ accepted: b.metrics.length, batch_id: batchId });
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

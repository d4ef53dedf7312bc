import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import autocannon from "autocannon";
import { connectNats, createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { ensureRoleLogins, migratePostgres } from "../../lib/migrate/index.ts";
import { freePort } from "../../lib/net/index.ts";
import {
  bodySha256Hex,
  hashComponent,
  issueLicense,
  loadPiiVault,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import { startCpuMeter } from "../ingest/cpu.ts";
import { deleteBenchKeys } from "../ingest/redis-keys.ts";
import { type ChildServer, spawnServer, startIngest, stopAll, waitUntil } from "../ingest/servers.ts";

// `npm run bench:licensing [-- --duration 10 --warmup 3 --connections 32 --instances 16 --cpu-prof]`
// Measures, in one run, POST /v1/auth/validate answered by the real ingest (token, request signature,
// replay guard, rate limit, seat state from the Redis cache, Ed25519-signed lease and answer) against a
// bare Fastify handler, each in a child process of its own; prints requests/s, p50/p99 and the ratio.

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    instances: { type: "string", default: "16" },
    // Runs the ingest under --cpu-prof; the profile lands in .data/bench/profiles/ when it stops.
    "cpu-prof": { type: "boolean", default: false },
  },
});
const settings = {
  durationSeconds: Math.min(60, Math.max(1, Number(values.duration))),
  warmupSeconds: Math.min(30, Math.max(0, Number(values.warmup))),
  connections: Math.min(512, Math.max(1, Number(values.connections))),
  instances: Math.min(256, Math.max(1, Number(values.instances))),
};

const NO_LIMIT = "100000000";
const ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_POSTGRES_DATABASE: "smstats_bench_lic",
  SMSTATS_REDIS_KEY_PREFIX: "smstats-bench-lic:",
  SMSTATS_NATS_STREAM: "LICBENCH",
  SMSTATS_NATS_SUBJECT_PREFIX: "licbench.telemetry",
  SMSTATS_NATS_CONSUMER: "processor_licbench",
  SMSTATS_NATS_STREAM_MAX_BYTES: String(16 * 1024 * 1024),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(16 * 1024 * 1024),
  SMSTATS_INGEST_RATE_LIMIT_PER_MIN: NO_LIMIT,
  SMSTATS_INGEST_RATE_LIMIT_TIERS: `starter=${NO_LIMIT},party_host=${NO_LIMIT},venue=${NO_LIMIT}`,
  SMSTATS_LICENSE_ERRORS_PER_HOUR: NO_LIMIT,
  SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: NO_LIMIT,
  // Capacity from one address: no per-address connection cap, no in-flight shedding.
  SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: NO_LIMIT,
  SMSTATS_INGEST_MAX_IN_FLIGHT: NO_LIMIT,
};

interface Instance {
  id: string;
  token: string;
  secret: Buffer;
  key: string;
  fingerprint: Record<string, string>;
}

const config = loadConfig({ ...process.env, ...ENV });
const servers: ChildServer[] = [];

async function cleanup() {
  await stopAll();
  await deleteBenchKeys(config.redis.url, ENV.SMSTATS_REDIS_KEY_PREFIX).catch(() => 0);
  const nats = await connectNats(
    config.nats.servers,
    "smstats-bench-cleanup",
    createLogger("bench", "silent"),
  );
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(ENV.SMSTATS_NATS_STREAM).catch(() => false);
  await jsm.streams.delete(`${ENV.SMSTATS_NATS_STREAM}_DLQ`).catch(() => false);
  await nats.nc.close();
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

async function setUp(ingestUrl: string): Promise<Instance[]> {
  const pool = createPgPool(config.postgres.url, "smstats-bench", 2);
  try {
    const out: Instance[] = [];
    const { key } = await issueLicense(
      pool,
      await loadPiiVault(config.dataDir),
      { name: "bench", source: "cli" },
      { tier: "venue", ownerEmail: "bench@example.com", maxInstances: settings.instances },
    );
    for (let i = 0; i < settings.instances; i++) {
      const reg = await fetch(`${ingestUrl}/v1/instances/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ hwid: randomBytes(12).toString("hex"), platform: "linux", version: "bench" }),
      });
      const r = (await reg.json()) as Record<string, string>;
      const inst: Instance = {
        id: r.instance_id as string,
        token: r.instance_token as string,
        secret: Buffer.from(r.signing_secret as string, "base64url"),
        key,
        fingerprint: Object.fromEntries(
          ["machine_id", "mac", "disk", "hostname"].map((c) => [
            c,
            hashComponent(c, `${c}-${i}-${randomBytes(4).toString("hex")}`),
          ]),
        ),
      };
      const act = signed(inst, "/v1/auth/activate");
      const res = await fetch(`${ingestUrl}/v1/auth/activate`, {
        method: "POST",
        headers: act.headers,
        body: act.body,
      });
      const body = (await res.json()) as { reason?: string };
      if (body.reason !== "VALID")
        throw new Error(`activation failed: ${res.status} ${JSON.stringify(body)}`);
      out.push(inst);
    }
    return out;
  } finally {
    await pool.end();
  }
}

let lastTs = 0;
function signed(inst: Instance, path: string) {
  const body = Buffer.from(
    JSON.stringify({
      license_key: inst.key,
      nonce: randomBytes(16).toString("base64url"),
      fingerprint: inst.fingerprint,
    }),
  );
  lastTs = Math.max(Date.now(), lastTs + 1);
  return {
    body,
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${inst.token}`,
      [TIMESTAMP_HEADER]: String(lastTs),
      [SIGNATURE_HEADER]: requestSignature({
        secret: inst.secret,
        method: "POST",
        path,
        timestamp: lastTs,
        bodySha256Hex: bodySha256Hex(body),
      }),
    },
  };
}

async function load(url: string, instances: Instance[], seconds: number, watchPid: number) {
  let i = 0;
  let valid = 0;
  const meter = startCpuMeter({ server: watchPid });
  const result = await autocannon({
    url,
    connections: settings.connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: "POST",
        path: "/v1/auth/validate",
        setupRequest: (request) => {
          const s = signed(instances[i++ % instances.length] as Instance, "/v1/auth/validate");
          return { ...request, headers: s.headers, body: s.body };
        },
        onResponse: (status, body) => {
          if (status === 200 && body.includes('"reason":"VALID"')) valid++;
        },
      },
    ],
  });
  const cpu = meter();
  return {
    seconds: result.duration,
    valid,
    rps: valid / result.duration,
    other: (result.requests.total ?? 0) - valid,
    errors: result.errors,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu: cpu.others.server,
    generatorCpu: cpu.generator,
  };
}

try {
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  await ensureRoleLogins(config.postgres.url, config.dataDir);
  const profileDir = values["cpu-prof"] ? join(config.dataDir, "bench", "profiles") : undefined;
  const ingest = await startIngest(ENV, profileDir);
  servers.push(ingest);
  console.error(`registering and activating ${settings.instances} instances…`);
  const instances = await setUp(ingest.url);
  const port = await freePort();
  const bare = spawnServer("bare validate", `http://127.0.0.1:${port}`, process.execPath, [
    "--import",
    "tsx",
    "bench/licensing/bare-validate-server.ts",
    "--port",
    String(port),
  ]);
  await waitUntil(
    bare,
    async () =>
      (
        await fetch(`${bare.url}/v1/auth/validate`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        })
      ).ok,
    20_000,
  );

  const measure = async (server: ChildServer) => {
    if (settings.warmupSeconds > 0) await load(server.url, instances, settings.warmupSeconds, server.pid);
    return load(server.url, instances, settings.durationSeconds, server.pid);
  };
  console.error("measuring the bare handler…");
  const b = await measure(bare);
  await bare.stop();
  console.error("measuring validate (warm cache)…");
  const v = await measure(ingest);
  const metrics = await (await fetch(ingest.metricsUrl as string)).text();
  const cache = (result: string) =>
    Number(
      new RegExp(`smstats_licensing_cache_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)`).exec(
        metrics,
      )?.[1] ?? 0,
    );
  const fmt = (n: number | undefined, d = 0) => (n === undefined ? "?" : n.toFixed(d));
  console.log(
    [
      `licensing validate benchmark: ${settings.connections} connections, ${settings.instances} instances, ${settings.durationSeconds} s after ${settings.warmupSeconds} s warm-up`,
      "",
      "server          VALID/s   p50 ms  p99 ms  non-VALID  errors  server CPU  generator CPU",
      `bare Fastify   ${fmt(b.rps).padStart(8)} ${fmt(b.p50, 1).padStart(8)} ${fmt(b.p99, 1).padStart(7)} ${String(b.other).padStart(10)} ${String(b.errors).padStart(7)} ${fmt(b.serverCpu, 2).padStart(11)} ${fmt(b.generatorCpu, 2).padStart(14)}`,
      `validate       ${fmt(v.rps).padStart(8)} ${fmt(v.p50, 1).padStart(8)} ${fmt(v.p99, 1).padStart(7)} ${String(v.other).padStart(10)} ${String(v.errors).padStart(7)} ${fmt(v.serverCpu, 2).padStart(11)} ${fmt(v.generatorCpu, 2).padStart(14)}`,
      "",
      `validate / bare: ${(v.rps / b.rps).toFixed(2)} of the throughput; seat-state cache over the whole run: ${cache("hit")} hits, ${cache("miss")} misses, ${cache("error")} errors`,
    ].join("\n"),
  );
  await cleanup();
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  await cleanup();
  process.exit(1);
}

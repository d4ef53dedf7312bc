import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { ensureRoleLogins, migratePostgres } from "../../lib/migrate/index.ts";
import { createAdminToken, encodeCursor } from "../../licensing/index.ts";
import { startIngest, stopAll } from "../ingest/servers.ts";

// `npm run bench:admin [-- --instances 100000 --requests 200]` (a benchmark, not a test): GET
// /v1/admin/instances over a PostgreSQL database of its own holding --instances instances, answered by the
// real ingest over HTTP: p50/p95/max of the first page and of a deep page (cursor at 80 % of the list),
// unfiltered and with each filter. Target: p95 < 300 ms for the first and a deep page.

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "100000" },
    requests: { type: "string", default: "200" },
  },
});
const total = Math.max(1000, Number(values.instances));
const requests = Math.max(10, Number(values.requests));
const ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_POSTGRES_DATABASE: "smstats_bench_admin",
  SMSTATS_REDIS_KEY_PREFIX: "smstats-bench-admin:",
  SMSTATS_NATS_STREAM: "ADMINBENCH",
  SMSTATS_NATS_SUBJECT_PREFIX: "adminbench.telemetry",
  SMSTATS_NATS_CONSUMER: "processor_adminbench",
  SMSTATS_NATS_STREAM_MAX_BYTES: String(16 * 1024 * 1024),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(16 * 1024 * 1024),
};
const config = loadConfig({ ...process.env, ...ENV });
const pool = createPgPool(config.postgres.url, "smstats-bench-admin", 2);

/** Fills the instances table up to `total` rows: a fleet registered over two years, 1 % banned. */
async function fill(): Promise<void> {
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM instances");
  const missing = total - rows[0].n;
  if (missing <= 0) return;
  console.error(`inserting ${missing} instances…`);
  for (let done = 0; done < missing; done += 20_000) {
    const n = Math.min(20_000, missing - done);
    await pool.query(
      `INSERT INTO instances (hwid, platform, version, owner_email_index, tier, registered_at, last_seen_at, is_banned)
       SELECT md5(random()::text || g), (ARRAY['linux','windows','darwin'])[1 + g % 3],
         (ARRAY['1.0.0','1.1.0','1.2.0','1.3.0','2.0.0'])[1 + g % 5],
         CASE WHEN g % 4 = 0 THEN sha256(('owner' || g || '@example.com')::bytea) END,
         (ARRAY['starter','starter','starter','party_host','venue'])[1 + g % 5],
         now() - make_interval(secs => random() * 730 * 86400),
         now() - make_interval(secs => random() * 60 * 86400),
         g % 100 = 0
       FROM generate_series($1::int, $1::int + $2::int - 1) g`,
      [done + rows[0].n, n],
    );
  }
  await pool.query("ANALYZE instances");
}

/** The cursor after the row at `fraction` of the list under a filter (what paging there would send). */
async function cursorAt(where: string, fraction: number): Promise<string> {
  const { rows } = await pool.query(
    `SELECT id, to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM instances
     ${where} ORDER BY registered_at DESC, id DESC
     OFFSET (SELECT floor(count(*) * ${fraction}) FROM instances ${where}) LIMIT 1`,
  );
  return encodeCursor({ registeredAt: rows[0].at, id: rows[0].id });
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;

async function measure(
  url: string,
  token: string,
): Promise<{ p50: number; p95: number; max: number; items: number }> {
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { items?: unknown[] };
    times.push(performance.now() - t);
    if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
    items = body.items?.length ?? 0;
  }
  times.sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    p50: r(quantile(times, 0.5)),
    p95: r(quantile(times, 0.95)),
    max: r(times.at(-1) as number),
    items,
  };
}

try {
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  await ensureRoleLogins(config.postgres.url, config.dataDir);
  await fill();
  const ingest = await startIngest(ENV);
  const { token } = await createAdminToken(
    pool,
    { name: "bench", source: "cli" },
    { name: "bench", scopes: ["instances:read"] },
  );
  const cases: [string, string, string][] = [
    ["all", "", ""],
    ["tier=venue", "tier=venue", "WHERE tier = 'venue'"],
    ["platform=darwin", "platform=darwin", "WHERE platform = 'darwin'"],
    ["version=1.2.0", "version=1.2.0", "WHERE version = '1.2.0'"],
    ["banned=true", "banned=true", "WHERE is_banned"],
    [
      "seen in 7 days",
      `seen_after=${new Date(Date.now() - 7 * 86_400_000).toISOString()}`,
      "WHERE last_seen_at >= now() - interval '7 days'",
    ],
  ];
  const results: Record<string, unknown>[] = [];
  for (const [name, qs, where] of cases) {
    const base = `${ingest.url}/v1/admin/instances?limit=50${qs ? `&${qs}` : ""}`;
    const first = await measure(base, token);
    const deep = await measure(`${base}&cursor=${await cursorAt(where, 0.8)}`, token);
    results.push({ filter: name, first, deep });
    console.log(
      `${name.padEnd(16)} first page p50 ${first.p50} ms p95 ${first.p95} ms max ${first.max} ms | deep page (80 %) p50 ${deep.p50} ms p95 ${deep.p95} ms max ${deep.max} ms`,
    );
  }
  const search = await measure(`${ingest.url}/v1/admin/instances?q=owner4000@example.com`, token);
  console.log(`${"q=email".padEnd(16)} p50 ${search.p50} ms p95 ${search.p95} ms (${search.items} found)`);
  results.push({ filter: "q=email", first: search });
  const worst = Math.max(
    ...results.flatMap((r) => [r.first, r.deep].filter(Boolean).map((x) => (x as { p95: number }).p95)),
  );
  console.log(
    `instances: ${total}; requests per case: ${requests}; worst p95 ${worst} ms (target < 300 ms): ${worst < 300 ? "PASS" : "MISS"}`,
  );
  const dir = join(config.dataDir, "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `admin-${Date.now()}.json`), JSON.stringify({ total, requests, results }, null, 2));
} finally {
  await stopAll();
  await pool.end();
}

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { startPipeline } from "../../loadtest/service.ts";
import { METRICS_BATCH_SCHEMA, type MetricsBatch, SchemaRegistry } from "../../schemas/index.ts";
import { testIngest } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { TEST_ENV } from "../support/env.ts";
import { fetchBatch, postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";
import { counterValue } from "../support/processor.ts";
import type { RunningService } from "../support/services.ts";

// The hostile privacy batch (issue 15): titles, user ids, e-mails, Unix, Windows and relative paths,
// IPv4 and IPv6 addresses, each a distinctive marker, in every string field and tag key and value of
// every family (and as a metric name, a batch id where the envelope allows one), sent over JSON and
// Avro with the default privacy flags. Then every String column of every ClickHouse table (raw and
// rollups), the raw bytes of the JetStream store files, every text column of PostgreSQL, every Redis key
// and value and the service's logs are searched for the markers: none may be found.
// The same service also shows opt-in consent end to end: an instance that never consented stores only its
// environment; songs_played_total without playback consent is dropped and counted.

const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);
let service: RunningService | undefined;

const run = Math.random().toString(36).slice(2, 8);
const octet = () => 1 + Math.floor(Math.random() * 254);
const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
const markers = {
  title: `Hostile Title ${run}`,
  userId: `hostile_user_${run}`,
  email: `hostile.${run}@example.org`,
  unixPath: `/home/h${run}/Music/a.mp4`,
  windowsPath: `C:\\Users\\h${run}\\a.mp4`,
  relativePath: `music/h${run}/a.cdg`,
  ipv4: `203.0.${octet()}.${octet()}`,
  ipv6: `2001:db8:${hex()}::${hex()}`,
};
const markerList = Object.values(markers);

// Fields that are enums or the sender's own id in the schema: a marker there is refused, not stored.
const KEEP = new Set(["instance_id", "event_type", "skip_reason"]);
const MAPS = new Set(["tags", "songs_by_source", "file_types", "users_by_role"]);

/** Every string of `value` replaced by the marker, and the marker added as a key to every map. */
function poison(value: unknown, marker: string, key = ""): unknown {
  if (typeof value === "string") return KEEP.has(key) ? value : marker;
  if (Array.isArray(value)) return value.map((v) => poison(v, marker));
  if (value && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => [k, poison(v, marker, k)] as const);
    if (MAPS.has(key)) {
      // Tags map to strings, the other maps to counts.
      return Object.fromEntries([...entries, [marker, key === "tags" ? marker : 3]]);
    }
    return Object.fromEntries(entries);
  }
  return value;
}

let seq = 0;
/** The "everything" example with the marker in every string field, tag and map key, default flags. */
function hostileBatch(instance: TestInstance, marker: string, transport: string): MetricsBatch {
  const base = freshBatch("everything", instance.instanceId, "x");
  const batch = poison(base, marker) as MetricsBatch;
  const metric = (name: string, tags: Record<string, string>) => ({ name, value: 1, tags, time_ms: null });
  batch.metrics.push(
    metric("error_count_by_type", { type: marker, operation: marker, status: marker, [marker]: "1" }),
    metric("api_response_times_ms", { operation: marker, source: marker, client: marker, samples: marker }),
    metric(marker, {}),
  );
  // The envelope is checked whole: a batch_id outside its pattern would refuse the batch, so only the
  // markers it admits (the addresses) go there.
  const id = `${transport}-${run}-${seq++}`;
  batch.batch_id = /^[A-Za-z0-9._:-]*$/.test(marker) ? `${marker}:${transport}` : id;
  batch.privacy = { anonymize_songs: true, anonymize_users: true, exclude_local: true };
  batch.seq = seq;
  return batch;
}

async function clickhouseHits(): Promise<string[]> {
  const columns = await ch.rows<{ table: string; name: string; type: string }>(
    `SELECT table, name, type FROM system.columns WHERE database = ${sqlString(config.clickhouse.database)}
       AND type LIKE '%String%' AND table IN (SELECT name FROM system.tables
         WHERE database = ${sqlString(config.clickhouse.database)} AND engine NOT LIKE '%View')`,
  );
  const hits: string[] = [];
  const byTable = new Map<string, { name: string; type: string }[]>();
  for (const c of columns) byTable.set(c.table, [...(byTable.get(c.table) ?? []), c]);
  for (const [table, cols] of byTable) {
    const labels: string[] = [];
    const checks = cols.flatMap((c) =>
      markerList.map((m) => {
        const col = `\`${c.name}\``;
        const text = c.type.startsWith("Array") ? `arrayStringConcat(${col}, '\\n')` : `toString(${col})`;
        labels.push(`${table}.${c.name}: ${m}`);
        return `sum(position(${text}, ${sqlString(m)}) > 0) AS h${labels.length - 1}`;
      }),
    );
    const [row] = await ch.rows<Record<string, string>>(`SELECT ${checks.join(", ")} FROM \`${table}\``);
    labels.forEach((label, i) => {
      if (Number(row?.[`h${i}`] ?? 0) > 0) hits.push(label);
    });
  }
  return hits;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

function fileHits(dir: string): string[] {
  const needles = markerList.map((m) => [m, Buffer.from(m)] as const);
  const hits: string[] = [];
  for (const file of filesUnder(dir)) {
    if (statSync(file).size > 512 * 1024 * 1024) continue;
    const bytes = readFileSync(file);
    for (const [m, needle] of needles) if (bytes.includes(needle)) hits.push(`${file}: ${m}`);
  }
  return hits;
}

async function postgresHits(): Promise<string[]> {
  const client = new pg.Client({ connectionString: config.postgres.url });
  await client.connect();
  try {
    const { rows: cols } = await client.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'inet')`,
    );
    const hits: string[] = [];
    for (const c of cols) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${c.table_name}" WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) m WHERE strpos("${c.column_name}"::text, m) > 0)`,
        [markerList],
      );
      if ((rows[0]?.n ?? 0) > 0) hits.push(`${c.table_name}.${c.column_name}`);
    }
    return hits;
  } finally {
    await client.end();
  }
}

async function redisHits(): Promise<string[]> {
  const redis = new Redis(config.redis.url, { lazyConnect: true });
  await redis.connect();
  try {
    const hits: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "COUNT", "1000");
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === "string"
            ? [await redis.get(key)]
            : type === "hash"
              ? Object.entries(await redis.hgetall(key)).flat()
              : type === "set"
                ? await redis.smembers(key)
                : type === "zset"
                  ? await redis.zrange(key, "0", "-1")
                  : type === "list"
                    ? await redis.lrange(key, 0, -1)
                    : [];
        const text = [key, ...value].join("\n");
        for (const m of markerList) if (text.includes(m)) hits.push(`${key}: ${m}`);
      }
    } while (cursor !== "0");
    return hits;
  } finally {
    redis.disconnect();
  }
}

async function waitFor(sql: string, atLeast: number, ms = 30_000): Promise<number> {
  const deadline = Date.now() + ms;
  let n = 0;
  while (Date.now() < deadline) {
    n = Number((await ch.rows<{ n: string }>(sql))[0]?.n ?? 0);
    if (n >= atLeast) return n;
    await new Promise((r) => setTimeout(r, 250));
  }
  return n;
}

async function startHostileService(): Promise<RunningService> {
  const ports = { ingest: await freePort(), processor: await freePort() };
  // info: the level the service runs at in production; every line it writes is scanned.
  const pipeline = await startPipeline(
    { ...TEST_ENV, SMSTATS_LOG_LEVEL: "info", SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" },
    60_000,
    ports,
  );
  return { ...pipeline, processorPort: ports.processor };
}

type Send = (
  instance: TestInstance,
  body: unknown,
  avro?: boolean,
) => Promise<{ status: number; text: string }>;

/** Sends the hostile batch of every marker over JSON and Avro; returns how many were accepted. */
async function sendHostile(instance: TestInstance, send: Send, label: string): Promise<number> {
  let batches = 0;
  for (const marker of markerList) {
    for (const transport of ["json", "avro"] as const) {
      const batch = hostileBatch(instance, marker, `${label}-${transport}`);
      const body = transport === "avro" ? latest.type.toBuffer(batch) : toJsonBody(batch);
      const res = await send(instance, body, transport === "avro");
      expect(res.status, `${label} ${transport} ${marker}: ${res.text}`).toBe(202);
      expect(JSON.parse(res.text).duplicate).toBe(false);
      batches++;
    }
  }
  return batches;
}

const avroOpts = (avro?: boolean) => (avro ? { avro: { fingerprint: latest.fingerprint } } : {});

afterAll(async () => {
  await service?.stop("SIGTERM");
  await ch.close();
});

describe("the hostile privacy batch", () => {
  it("leaves none of its markers in ClickHouse, the JetStream store, PostgreSQL, Redis or the logs", async () => {
    // 1. A backlog: batches ingest accepted and no processor has taken yet sit in the JetStream store.
    const { app, deps } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" });
    let batches = 0;
    const instance = await registerInstance(app);
    try {
      batches += await sendHostile(
        instance,
        async (inst, body, avro) => {
          const r = await postBatch(app, inst, body, avroOpts(avro));
          return { status: r.statusCode, text: r.body };
        },
        "backlog",
      );
    } finally {
      await app.close();
      await deps.close();
    }
    // nats-server writes a block a few milliseconds after it acknowledges the publish.
    await new Promise((r) => setTimeout(r, 1000));
    expect(fileHits(join(config.dataDir, "nats")), "markers in the JetStream store files").toEqual([]);

    // 2. The service takes the backlog and more of the same over HTTP; its output is scanned below.
    service = await startHostileService();
    const s = service;
    batches += await sendHostile(
      instance,
      async (inst, body, avro) => {
        const r = await fetchBatch(s.ingestUrl, inst, body, avroOpts(avro));
        return { status: r.status, text: await r.text() };
      },
      "http",
    );
    // Every accepted batch stored (its rows in every raw table, then its key recorded).
    const stored = await waitFor(
      `SELECT count() AS n FROM inserted_batches WHERE instance_id = ${sqlString(instance.instanceId)}`,
      batches,
    );
    expect(stored).toBe(batches);
    const id = sqlString(instance.instanceId);
    for (const table of [
      "metrics_quality",
      "events_playback",
      "events_session",
      "snapshots_library",
      "environment",
    ]) {
      const n = Number(
        (await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE instance_id = ${id}`))[0]?.n,
      );
      expect(n, `${table} rows of the hostile batches`).toBeGreaterThan(0);
    }

    // Logs first: the scans below send the markers to the servers in their queries.
    const logs = [
      ...fileHits(join(config.dataDir, "logs")),
      ...markerList.filter((m) => s.output().includes(m)).map((m) => `service output: ${m}`),
    ];
    expect(logs, "markers in the service logs").toEqual([]);
    expect(fileHits(join(config.dataDir, "nats")), "markers in the JetStream store files").toEqual([]);
    expect(await redisHits(), "markers in Redis").toEqual([]);
    expect(await postgresHits(), "markers in PostgreSQL").toEqual([]);
    expect(await clickhouseHits(), "markers in ClickHouse").toEqual([]);

    // Every replacement is counted by field and reason.
    const metrics = await (await fetch(`http://127.0.0.1:${s.processorPort}/metrics`)).text();
    const shaped = (field: string, reason: string) =>
      counterValue(metrics, "smstats_processor_shaped_values_total", { field, reason });
    expect(shaped("batch_id", "hashed")).toBeGreaterThanOrEqual(2);
    expect(shaped("metrics.tags", "tag_key_not_allowed")).toBeGreaterThan(0);
    expect(shaped("metrics.tags.type", "not_in_enum")).toBeGreaterThan(0);
    expect(shaped("session.user_role", "not_in_enum")).toBeGreaterThan(0);
    expect(shaped("environment.version", "not_a_version")).toBeGreaterThan(0);
  }, 180_000);
});

describe("opt-in consent end to end", () => {
  it("stores only the environment of an instance that never consented", async () => {
    const s = service as RunningService;
    const none = await registerInstance(s.ingestUrl, {});
    const batch = { ...freshBatch("everything", none.instanceId, `none-${run}`), seq: 1 };
    const res = await fetchBatch(s.ingestUrl, none, toJsonBody(batch));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; filtered: Record<string, number> };
    expect(body.accepted).toBe(1);
    expect(body.filtered).toEqual({
      metrics: batch.metrics.length,
      library: batch.library.length,
      playback: batch.playback.length,
      session: batch.session.length,
    });
    const id = sqlString(none.instanceId);
    expect(await waitFor(`SELECT count() AS n FROM environment WHERE instance_id = ${id}`, 1)).toBe(1);
    for (const table of ["metrics_quality", "events_playback", "events_session", "snapshots_library"]) {
      const n = Number(
        (await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE instance_id = ${id}`))[0]?.n,
      );
      expect(n, table).toBe(0);
    }
  });

  it("drops songs_played_total from an instance with quality but no playback consent, and counts it", async () => {
    const s = service as RunningService;
    const quality = await registerInstance(s.ingestUrl, { quality: true });
    const counted = async () =>
      counterValue(
        await (await fetch(s.ingestMetricsUrl)).text(),
        "smstats_ingest_metrics_no_consent_total",
        {
          consent_family: "playback",
        },
      );
    const before = await counted();
    const base = freshBatch("quality", quality.instanceId, `q-${run}`);
    const metrics: MetricsBatch["metrics"] = [
      { name: "songs_played_total", value: 42, tags: {}, time_ms: null },
      { name: "error_count_by_type", value: 1, tags: { type: "network" }, time_ms: null },
    ];
    const batch = { ...base, seq: 1, metrics };
    const res = await fetchBatch(s.ingestUrl, quality, toJsonBody(batch));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { filtered: unknown }).filtered).toEqual({ metrics: 1 });
    expect(await counted()).toBe(before + 1);
    const id = sqlString(quality.instanceId);
    expect(await waitFor(`SELECT count() AS n FROM metrics_quality WHERE instance_id = ${id}`, 1)).toBe(1);
    const names = await ch.rows<{ metric_name: string }>(
      `SELECT metric_name FROM metrics_quality WHERE instance_id = ${id}`,
    );
    expect(names).toEqual([{ metric_name: "error_count_by_type" }]);
  });
});

import { randomBytes, randomUUID } from "node:crypto";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, createPgPool, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, requirePostgresRole } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName, PIPELINE_HEADERS } from "../../lib/jetstream/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import {
  bodySha256Hex,
  hashComponent,
  issueLicense,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import { loadPiiVault } from "../../licensing/keys/pii-vault.ts";
import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { METRICS_BATCH_SCHEMA, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";
import { adminToken } from "../licensing/license-client.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { TEST_ENV } from "../support/env.ts";
import { scanClickHouse, scanPostgres, scanRedis, scanStreams } from "../support/privacy-scan.ts";

// Issue 15, item 1: an instance that sent every family, was dead-lettered once, activated a license from
// its own address and gave its e-mail is erased; then a scan of every store finds none of its instance
// id, hwid, e-mail or address but in the erasure's audit record. Ingest runs the job (the pipeline's
// ingest process), and a job killed with that process mid-way is finished by the next one.

const ENV = {
  ...TEST_ENV,
  SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000,party_host=1000000,venue=1000000",
  // The test's client addresses come as X-Forwarded-For from the loopback "proxy": unique per instance.
  SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1",
  SMSTATS_ERASURE_POLL_MS: "300",
  SMSTATS_ERASURE_LEASE_MS: "2000",
  // A pause between steps, so the restart test can kill the job between two of them.
  SMSTATS_ERASURE_STEP_PAUSE_MS: "1500",
};
const config = loadConfig({ ...process.env, ...ENV });
const ch = serverExecutor(config.clickhouse);
let pipeline: PipelineProcess | undefined;
let owner: pg.Pool;
let write: pg.Pool;
let redis: Redis;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  owner = createPgPool(config.postgres.url, "erasure-test-owner", 2);
  write = createPgPool(requirePostgresRole(config, "write"), "erasure-test", 2);
  redis = await connectRedis(config.redis.url, "erasure-test");
  nc = await connect({ servers: config.nats.servers });
  jsm = await jetstreamManager(nc);
  pipeline = await startPipeline(ENV);
}, 180_000);
afterAll(async () => {
  await pipeline?.stop("SIGTERM");
  await Promise.allSettled([owner?.end(), write?.end(), redis?.quit(), nc?.close(), ch.close()]);
});

interface Subject {
  instanceId: string;
  hwid: string;
  email: string;
  address: string;
  token: string;
  secret: Buffer;
}

let lastTs = 0;
async function signed(s: Subject, method: string, path: string, body?: unknown) {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  lastTs = Math.max(Date.now(), lastTs + 1);
  const h: Record<string, string> = {
    authorization: `Bearer ${s.token}`,
    "x-forwarded-for": s.address,
    [TIMESTAMP_HEADER]: String(lastTs),
    [SIGNATURE_HEADER]: requestSignature({
      secret: s.secret,
      method,
      path,
      timestamp: lastTs,
      bodySha256Hex: bodySha256Hex(payload),
    }),
  };
  if (body !== undefined) h["content-type"] = "application/json";
  return fetch(`${pipeline?.ingestUrl}${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : payload,
  });
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    v = await fn();
  }
  return v;
}

const RAW_TABLES = [
  "metrics_quality",
  "events_playback",
  "events_session",
  "snapshots_library",
  "environment",
];

async function rowsOf(instanceId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of RAW_TABLES) {
    const r = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM ${t} WHERE instance_id = ${sqlString(instanceId)}`,
    );
    out[t] = Number(r[0]?.n);
  }
  return out;
}

/** Registers an instance with an e-mail from its own address, consents to everything, activates a license, sends every family. */
async function livingInstance(label: string): Promise<Subject> {
  const address = `198.18.${1 + (randomBytes(1)[0] as number)}.${100 + ((randomBytes(1)[0] as number) % 150)}`;
  const hwid = randomUUID().replace(/-/g, "");
  const email = `erase-${label}-${randomBytes(4).toString("hex")}@example.org`;
  const reg = await fetch(`${pipeline?.ingestUrl}/v1/instances/register`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify({ hwid, platform: "linux", version: "1.2.0", owner_email: email }),
  });
  const body = (await reg.json()) as Record<string, string>;
  expect(reg.status, JSON.stringify(body)).toBe(201);
  const s: Subject = {
    instanceId: body.instance_id as string,
    hwid,
    email,
    address,
    token: body.instance_token as string,
    secret: Buffer.from(body.signing_secret as string, "base64url"),
  };
  const path = `/v1/instances/${s.instanceId}/consent`;
  const consent = await signed(s, "PUT", path, {
    quality: true,
    playback: true,
    session: true,
    library: true,
  });
  expect(consent.status, await consent.text()).toBe(200);
  const { key } = await issueLicense(
    write,
    await loadPiiVault(config.dataDir),
    { name: "cli:erasure-test", source: "cli" },
    {
      tier: "venue",
      ownerEmail: "licensing-dept@example.com",
    },
  );
  const fp = {
    machine_id: hashComponent("machine_id", `mid-${hwid}`),
    disk: hashComponent("disk", `d-${hwid}`),
  };
  const act = await signed(s, "POST", "/v1/auth/activate", {
    license_key: key,
    nonce: randomBytes(16).toString("base64url"),
    fingerprint: fp,
    instance_id: s.instanceId,
  });
  expect(act.status, await act.text()).toBe(200);
  const hb = await signed(s, "POST", "/v1/auth/heartbeat", {
    nonce: randomBytes(16).toString("base64url"),
    fingerprint: fp,
    instance_id: s.instanceId,
    session_stats: { active_users: 3 },
  });
  expect([200, 400]).toContain(hb.status);
  const batch = toJsonBody(freshBatch("everything", s.instanceId, `erase-${randomUUID()}`));
  const sent = await signed(s, "POST", "/v1/stats/batch", batch);
  expect(sent.status, await sent.text()).toBe(202);
  const stored = await until(
    () => rowsOf(s.instanceId),
    (r) => Object.values(r).every((n) => n > 0),
    30_000,
  );
  expect(
    Object.values(stored).every((n) => n > 0),
    JSON.stringify(stored),
  ).toBe(true);
  return s;
}

/** Publishes a batch of the instance that ClickHouse refuses (as test/e2e/poison.test.ts does); waits until it is dead-lettered. */
async function deadLetterOnce(s: Subject): Promise<void> {
  const schema = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
  const batch = freshBatch("library", s.instanceId, `poison-${randomUUID()}`);
  (batch.library[0] as { total_songs: number }).total_songs = -5;
  const h = headers();
  h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);
  h.set(PIPELINE_HEADERS.clientIp, s.address);
  h.set(PIPELINE_HEADERS.receivedAt, String(Date.now()));
  await jetstream(nc).publish(batchSubject(config.nats), schema.type.toBuffer(batch), {
    headers: h,
    msgID: `${s.instanceId}:${batch.batch_id}`,
  });
  const dlq = deadLetterStreamName(config.nats);
  const found = await until(
    () => scanStreams(jsm, [dlq], [s.instanceId]),
    (hits) => hits.length > 0,
    30_000,
  );
  expect(found.length, "the poison batch reached the dead-letter stream").toBeGreaterThan(0);
}

async function follow(jobId: string, ms = 120_000) {
  return until(
    async () =>
      (await (await fetch(`${pipeline?.ingestUrl}/v1/erasures/${jobId}`)).json()) as {
        status: string;
        step: string;
        attempts: number;
        removed: Record<string, number>;
      },
    (j) => j.status === "done",
    ms,
  );
}

async function scanAll(s: Subject, auditJob?: string) {
  const needles = [s.instanceId, s.hwid, s.email, s.address];
  const streams = [config.nats.stream, deadLetterStreamName(config.nats)];
  return [
    ...(await scanClickHouse(ch, needles)),
    ...(await scanStreams(jsm, streams, needles)),
    ...(await scanPostgres(
      owner,
      needles,
      (table, row) =>
        table === "audit_log" &&
        row.action === "instance.erase" &&
        (row.changes as { job_id?: string })?.job_id === auditJob,
    )),
    ...(await scanRedis(redis, needles)),
  ];
}

describe("erasure of an instance", () => {
  it("leaves its id, hwid, e-mail and address nowhere but the erasure's audit record, and a second erasure is a no-op", async () => {
    const s = await livingInstance("full");
    await deadLetterOnce(s);
    // The scan sees the instance everywhere before: it can find what it looks for.
    const before = await scanAll(s);
    for (const store of ["clickhouse:", "jetstream:", "postgres:", "redis:"]) {
      expect(
        before.some((h) => h.startsWith(store)),
        `${store} holds the instance before`,
      ).toBe(true);
    }
    // Its address is held sealed (licensing migration 0008): the activation opens to it before.
    const vault = await loadPiiVault(config.dataDir);
    const sealed = await owner.query<{ ip_sealed: Buffer }>(
      "SELECT ip_sealed FROM license_activations WHERE instance_id = $1 AND ip_sealed IS NOT NULL",
      [s.instanceId],
    );
    expect(sealed.rows.map((r) => vault.openAddress(r.ip_sealed))).toContain(s.address);
    // Redis never holds the address in clear, not even in a counter's name (they use its keyed tag) …
    expect(await scanRedis(redis, [s.address]), "a clear address in Redis").toEqual([]);
    const tagged = await scanRedis(redis, [vault.addressTag(s.address)]);
    expect(tagged.length, "the address's counters under its tag").toBeGreaterThan(0);

    const started = Date.now();
    const res = await signed(s, "DELETE", `/v1/instances/${s.instanceId}/data`);
    expect(res.status, await res.clone().text()).toBe(202);
    const job = (await res.json()) as { job_id: string; status: string };
    expect(res.headers.get("location")).toBe(`/v1/erasures/${job.job_id}`);
    const done = await follow(job.job_id);
    console.info(
      `FIGURE erasure: done in ${Date.now() - started} ms; removed ${JSON.stringify(done.removed)}`,
    );
    expect(done.status).toBe("done");

    const hits = await scanAll(s, job.job_id);
    expect(hits).toEqual([]);
    expect(await scanRedis(redis, [vault.addressTag(s.address)]), "counters under the address's tag").toEqual(
      [],
    );
    const audit = await owner.query(
      "SELECT actor, target_id, changes, ip_sealed FROM audit_log WHERE action = 'instance.erase' AND target_id = $1",
      [s.instanceId],
    );
    expect(audit.rows).toEqual([
      {
        actor: "instance:self",
        target_id: s.instanceId,
        changes: { job_id: job.job_id, requested_via: "instance" },
        ip_sealed: null,
      },
    ]);

    // Its credentials are gone; the admin API answers the same job, done, and records nothing more.
    expect((await signed(s, "DELETE", `/v1/instances/${s.instanceId}/data`)).status).toBe(401);
    const admin = await adminToken(write, ["instances:write"], "erasure-test");
    const again = await fetch(`${pipeline?.ingestUrl}/v1/admin/instances/${s.instanceId}/data`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ job_id: job.job_id, status: "done" });
    const count = await owner.query("SELECT count(*)::int AS n FROM audit_log WHERE target_id = $1", [
      s.instanceId,
    ]);
    expect(count.rows[0].n).toBe(1);
    expect(await scanAll(s, job.job_id)).toEqual([]);
  }, 240_000);

  it("finishes after the process running it is killed mid-way and a new one starts", async () => {
    const s = await livingInstance("restart");
    const admin = await adminToken(write, ["instances:write"], "erasure-restart-test");
    const res = await fetch(`${pipeline?.ingestUrl}/v1/admin/instances/${s.instanceId}/data`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(202);
    const { job_id: jobId } = (await res.json()) as { job_id: string };
    // Killed once the first step (PostgreSQL) is recorded and before the others ran.
    const mid = await until(
      async () => (await owner.query("SELECT status, step FROM erasure_jobs WHERE id = $1", [jobId])).rows[0],
      (r) => r?.step === "postgres",
      30_000,
    );
    expect(mid).toEqual({ status: "running", step: "postgres" });
    await pipeline?.stop("SIGKILL");
    const left = await owner.query("SELECT status, step FROM erasure_jobs WHERE id = $1", [jobId]);
    expect(left.rows[0].status).toBe("running");
    expect(Object.values(await rowsOf(s.instanceId)).some((n) => n > 0)).toBe(true);

    pipeline = await startPipeline(ENV);
    const done = await follow(jobId);
    expect(done.status).toBe("done");
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    expect(await rowsOf(s.instanceId)).toEqual(Object.fromEntries(RAW_TABLES.map((t) => [t, 0])));
    expect(await scanAll(s, jobId)).toEqual([]);
  }, 300_000);
});

import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject, PIPELINE_HEADERS } from "../../lib/jetstream/index.ts";
import { banInstance, issueInstanceToken } from "../../licensing/index.ts";
import {
  type ExampleFamily,
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaRegistry,
} from "../../schemas/index.ts";
import { scrapeMetrics, seedBody, testIngest, uniqueId } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { postBatch, registerInstance, signedRequest, type TestInstance } from "../support/instance-client.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;
const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);

beforeAll(async () => {
  ({ app, deps, config } = await testIngest());
  instance = await registerInstance(app);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

async function lastMessage() {
  const m = await deps.jsm.streams.getMessage(config.nats.stream, {
    last_by_subj: batchSubject(config.nats),
  });
  if (!m) throw new Error("no message in the stream");
  const fingerprint = m.header.get(SCHEMA_FINGERPRINT_HEADER);
  return {
    data: m.data,
    headers: m.header,
    fingerprint,
    batch: registry.decode<MetricsBatch>(m.data, fingerprint).value,
  };
}

async function streamMessages() {
  return (await deps.jsm.streams.info(config.nats.stream)).state.messages;
}

/** A fresh instance for tests that must not share a rate-limit budget or cache with others. */
const fresh = () => registerInstance(app);

const families: ExampleFamily[] = ["quality", "library", "playback", "session", "environment", "everything"];

describe("every family, as JSON and as Avro", () => {
  it.each(families)("stores a %s batch sent as JSON exactly as sent", async (family) => {
    const sent = freshBatch(family, instance.instanceId, uniqueId(`json-${family}`));
    const res = await postBatch(app, instance, toJsonBody(sent));
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ duplicate: false, rejected: [], clamped: 0 });
    const { batch, fingerprint } = await lastMessage();
    expect(fingerprint).toBe(latest.fingerprint);
    expect({ ...batch, received_at_ms: 0 }).toEqual({ ...sent, received_at_ms: 0 });
  });

  it.each(families)("passes a %s batch sent as Avro through byte for byte", async (family) => {
    const sent = freshBatch(family, instance.instanceId, uniqueId(`avro-${family}`));
    const bytes = latest.type.toBuffer(sent);
    const res = await postBatch(app, instance, bytes, { avro: { fingerprint: latest.fingerprint } });
    expect(res.statusCode, res.body).toBe(202);
    const { data, batch, headers } = await lastMessage();
    expect(Buffer.from(data).equals(bytes)).toBe(true);
    expect(batch).toEqual(sent);
    expect(Number(headers.get(PIPELINE_HEADERS.receivedAt))).toBeGreaterThan(0);
  });

  it("accepts Avro written with an older schema version and keeps its fingerprint", async () => {
    const v1 = registry.versions.find((v) => v.version === 1);
    if (!v1) throw new Error("v1 missing");
    const batchId = uniqueId("v1");
    const bytes = v1.type.toBuffer({
      instance_id: instance.instanceId,
      batch_id: batchId,
      timestamp_ms: Date.now(),
      received_at_ms: 0,
      metrics: [{ name: "uptime_seconds", value: 5, tags: {} }],
    });
    const res = await postBatch(app, instance, bytes, { avro: { fingerprint: v1.fingerprint } });
    expect(res.statusCode, res.body).toBe(202);
    const msg = await lastMessage();
    expect(msg.fingerprint).toBe(v1.fingerprint);
    expect(msg.batch).toMatchObject({
      batch_id: batchId,
      metrics: [{ name: "uptime_seconds", time_ms: null }],
    });
  });

  it.each(["gzip", "zstd"] as const)("accepts %s-compressed JSON and Avro bodies", async (encoding) => {
    const json = freshBatch("everything", instance.instanceId, uniqueId(`${encoding}-json`));
    const r1 = await postBatch(app, instance, toJsonBody(json), { encoding });
    expect(r1.statusCode, r1.body).toBe(202);
    expect((await lastMessage()).batch.batch_id).toBe(json.batch_id);
    const avro = freshBatch("everything", instance.instanceId, uniqueId(`${encoding}-avro`));
    const r2 = await postBatch(app, instance, latest.type.toBuffer(avro), {
      encoding,
      avro: { fingerprint: latest.fingerprint },
    });
    expect(r2.statusCode, r2.body).toBe(202);
    expect((await lastMessage()).batch).toEqual(avro);
  });

  it("still takes the seed's example body (no batch_id, seq or sent_at)", async () => {
    const res = await postBatch(app, instance, seedBody(instance.instanceId));
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 2, duplicate: false });
    const { batch } = await lastMessage();
    expect(batch.metrics.map((m) => [m.name, m.value, m.tags])).toEqual([
      ["songs_played_total", 42, { source: "youtube" }],
      ["users_peak_concurrent", 15, {}],
    ]);
  });
});

describe("duplicates, consent, partial batches and time", () => {
  it("stores the same batch posted twice once", async () => {
    const body = toJsonBody(freshBatch("quality", instance.instanceId, uniqueId("dup")));
    const before = await streamMessages();
    const first = await postBatch(app, instance, body);
    const second = await postBatch(app, instance, body);
    expect(first.json()).toMatchObject({ duplicate: false });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({ duplicate: true, accepted: 0 });
    expect(await streamMessages()).toBe(before + 1);
  });

  it("drops the families an instance did not consent to, and says so", async () => {
    const limited = await registerInstance(app, {
      quality: true,
      playback: false,
      session: false,
      library: true,
    });
    const sent = freshBatch("everything", limited.instanceId, uniqueId("consent"));
    const res = await postBatch(app, limited, toJsonBody(sent));
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().filtered).toEqual({ playback: sent.playback.length, session: sent.session.length });
    const { batch } = await lastMessage();
    expect(batch.playback).toEqual([]);
    expect(batch.session).toEqual([]);
    expect(batch.metrics).toHaveLength(sent.metrics.length);
    expect(batch.library).toHaveLength(sent.library.length);
    const metrics = (await scrapeMetrics(config, deps)).body;
    expect(metrics).toMatch(
      /smstats_ingest_items_total\{family="playback",outcome="no_consent"[^}]*\} [1-9]/,
    );
  });

  it("stores the valid items of a batch and reports each invalid one by family, index and reason", async () => {
    const body = toJsonBody(freshBatch("everything", instance.instanceId, uniqueId("partial")));
    (body.metrics as unknown[]).push({ name: "ok_metric", value: 1 }, { name: "bad", value: "NaN" });
    (body.playback as unknown[]).push({ event_type: "exploded", song: { source: "local" } });
    const res = await postBatch(app, instance, body);
    expect(res.statusCode, res.body).toBe(202);
    const n = (body.metrics as unknown[]).length;
    expect(res.json().rejected).toEqual([
      { family: "metrics", index: n - 1, reason: expect.stringContaining("value") },
      {
        family: "playback",
        index: (body.playback as unknown[]).length - 1,
        reason: expect.stringContaining("event_type"),
      },
    ]);
    expect((await lastMessage()).batch.metrics.at(-1)?.name).toBe("ok_metric");
  });

  it("answers 400 with the list when no item of a batch is valid, and publishes nothing", async () => {
    const before = await streamMessages();
    const res = await postBatch(app, instance, {
      instance_id: instance.instanceId,
      timestamp: new Date().toISOString(),
      metrics: [{ name: 7, value: 1 }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: { code: "INVALID_BODY" },
      rejected: [{ family: "metrics", index: 0 }],
    });
    expect(await streamMessages()).toBe(before);
  });

  it("accepts events weeks late, clamps times too far in the future, and flags them", async () => {
    const now = Date.now();
    const res = await postBatch(app, instance, {
      instance_id: instance.instanceId,
      batch_id: uniqueId("time"),
      timestamp: new Date(now).toISOString(),
      sent_at: new Date(now - 1_000).toISOString(),
      metrics: [
        { name: "weeks_late", value: 1, time: new Date(now - 21 * 86_400_000).toISOString() },
        { name: "future", value: 2, time: new Date(now + 3_600_000).toISOString() },
      ],
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ clamped: 1, rejected: [] });
    const { batch, headers } = await lastMessage();
    expect(batch.metrics[0]?.time_ms).toBe(Date.parse(new Date(now - 21 * 86_400_000).toISOString()));
    expect(batch.metrics[1]?.time_ms).toBeLessThanOrEqual(Date.now());
    expect(headers.get(PIPELINE_HEADERS.clamped)).toBe("1");
    expect(Number(headers.get(PIPELINE_HEADERS.clockSkewMs))).toBeGreaterThanOrEqual(1_000);
  });

  it("counts sequence gaps and late fills per instance", async () => {
    const inst = await fresh();
    const send = (seq: number) =>
      postBatch(app, inst, {
        ...toJsonBody(freshBatch("quality", inst.instanceId, uniqueId(`seq${seq}`))),
        seq,
      });
    const before = (await scrapeMetrics(config, deps)).body;
    for (const seq of [1, 2, 5, 3]) expect((await send(seq)).statusCode).toBe(202);
    const read = (text: string, re: RegExp) => Number(text.match(re)?.[1] ?? 0);
    const gap = /smstats_ingest_sequence_total\{outcome="gap"[^}]*\} (\d+)/;
    const late = /smstats_ingest_sequence_total\{outcome="late"[^}]*\} (\d+)/;
    const missing = /smstats_ingest_sequence_missing_total\{[^}]*\} (\d+)/;
    // The answer does not wait for the sequence's record, which waits up to 20 ms to share a round trip.
    const after = await metricsOnceSequenced(() => scrapeMetrics(config, deps), late, read(before, late) + 1);
    expect(read(after, gap) - read(before, gap)).toBe(1);
    expect(read(after, late) - read(before, late)).toBe(1);
    expect(read(after, missing) - read(before, missing)).toBe(2);
  });

  it("stores a batch whose sequence Redis fails to record, and counts the failure", async () => {
    const inst = await fresh();
    // The tracker's key holds a list: Redis answers its script WRONGTYPE, a real failure of the tracker.
    await deps.redis.rpush(`${config.redis.keyPrefix}seq:${inst.instanceId}:max`, "not a number");
    const errorsRe = /smstats_ingest_sequence_errors_total\{[^}]*\} (\d+)/;
    const read = async () => Number((await scrapeMetrics(config, deps)).body.match(errorsRe)?.[1] ?? 0);
    const before = await read();
    const sent = freshBatch("quality", inst.instanceId, uniqueId("seq-fail"));
    const res = await postBatch(app, inst, { ...toJsonBody(sent), seq: 1 });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ duplicate: false, batch_id: sent.batch_id });
    expect((await lastMessage()).batch.batch_id).toBe(sent.batch_id);
    await deps.sequences.flush();
    const deadline = Date.now() + 2_000;
    while ((await read()) - before < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await read()) - before).toBe(1);
  });
});

describe("authentication", () => {
  const body = () => toJsonBody(freshBatch("quality", instance.instanceId, uniqueId("auth")));

  it("refuses a request without a token: 401 TOKEN_MISSING", async () => {
    const res = await postBatch(app, instance, body(), { token: null });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("TOKEN_MISSING");
  });

  it("refuses an expired token: 401 TOKEN_EXPIRED", async () => {
    const expired = await issueInstanceToken(
      deps.ring,
      { instanceId: instance.instanceId, tier: "starter" },
      { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) },
    );
    const res = await postBatch(app, instance, body(), { token: expired });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("TOKEN_EXPIRED");
  });

  it("refuses a wrong signature: 401 SIGNATURE_INVALID", async () => {
    const res = await postBatch(app, { ...instance, secret: Buffer.alloc(32, 7) }, body());
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("SIGNATURE_INVALID");
  });

  it("refuses a signature older than 5 minutes: 401 SIGNATURE_EXPIRED", async () => {
    const res = await postBatch(app, instance, body(), { timestamp: Date.now() - 301_000 });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("SIGNATURE_EXPIRED");
  });

  it("accepts a signature once: a replay gets 401 SIGNATURE_REUSED", async () => {
    const b = body();
    const timestamp = Date.now();
    expect((await postBatch(app, instance, b, { timestamp })).statusCode).toBe(202);
    const replay = await postBatch(app, instance, b, { timestamp });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.code).toBe("SIGNATURE_REUSED");
  });

  it("refuses a banned instance: 403 INSTANCE_BANNED", async () => {
    const banned = await fresh();
    await banInstance(deps.pg, banned.instanceId, "test");
    const res = await postBatch(
      app,
      banned,
      toJsonBody(freshBatch("quality", banned.instanceId, uniqueId("ban"))),
    );
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe("INSTANCE_BANNED");
  });

  it("refuses a batch for another instance than the token's: 403 INSTANCE_MISMATCH", async () => {
    const res = await postBatch(
      app,
      instance,
      toJsonBody(freshBatch("quality", "someone-else", uniqueId("mm"))),
    );
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe("INSTANCE_MISMATCH");
  });
});

describe("rate limits", () => {
  it("answers the 101st request in a minute with 429 and Retry-After while another instance gets 202", async () => {
    const [noisy, quiet] = await Promise.all([fresh(), fresh()]);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          postBatch(app, noisy, toJsonBody(freshBatch("quality", noisy.instanceId, `rl-${i + k}`))),
        ),
      );
      statuses.push(...batch.map((r) => r.statusCode));
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(100);
    const [over, other] = await Promise.all([
      postBatch(app, noisy, toJsonBody(freshBatch("quality", noisy.instanceId, "rl-100"))),
      postBatch(app, quiet, toJsonBody(freshBatch("quality", quiet.instanceId, "rl-q"))),
    ]);
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe("RATE_LIMITED");
    expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
    expect(over.headers["ratelimit-remaining"]).toBe("0");
    expect(other.statusCode).toBe(202);
    expect(other.headers["ratelimit-remaining"]).toBe("99");
  });
});

describe("bad input", () => {
  it.each([
    ["malformed JSON", '{"instance_id": "x", ', "application/json", 400, "MALFORMED_BODY"],
    ["an empty body", "", "application/json", 400, "MALFORMED_BODY"],
    [
      "a missing timestamp",
      JSON.stringify({ instance_id: "x", metrics: [] }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "a bad timestamp",
      JSON.stringify({ instance_id: "x", timestamp: "yesterday" }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "a batch with no items",
      JSON.stringify({ instance_id: "x", timestamp: new Date().toISOString() }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    ["a text body", "hello", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"],
  ])("rejects %s with a stable code and publishes nothing", async (_name, payload, type, status, code) => {
    const fixed = payload.replace('"x"', JSON.stringify(instance.instanceId));
    const before = await streamMessages();
    const real = await rawPost(fixed, type);
    expect(real.statusCode, real.body).toBe(status);
    expect(real.json()).toMatchObject({ error: { code, message: expect.any(String) } });
    expect(await streamMessages()).toBe(before);
  });

  it("rejects a body over the size limit with 413", async () => {
    const res = await rawPost(
      JSON.stringify({ ...seedBody(instance.instanceId), pad: "x".repeat(config.ingest.bodyLimit) }),
    );
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe("BODY_TOO_LARGE");
  });

  it("rejects a decompression bomb with 413", async () => {
    const bomb = gzipSync(Buffer.alloc(config.ingest.maxDecompressed + 1024, 32));
    expect(bomb.length).toBeLessThan(config.ingest.bodyLimit);
    const res = await rawPost(bomb, "application/json", "gzip");
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe("BODY_TOO_LARGE");
  });

  it("rejects Avro with an unknown schema fingerprint: 400 SCHEMA_UNKNOWN", async () => {
    const res = await postBatch(app, instance, Buffer.from([1, 2, 3]), {
      avro: { fingerprint: "00".repeat(32) },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("SCHEMA_UNKNOWN");
  });

  it("answers unknown routes with 404 NOT_FOUND", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/nope" });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("NOT_FOUND");
  });
});

/** Posts raw bytes, correctly signed, with any content type: for bodies the helpers would not produce. */
async function rawPost(payload: string | Buffer, contentType = "application/json", encoding?: string) {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const signed = await signedRequest(instance, bytes, { avro: { fingerprint: "" } });
  const headers: Record<string, string> = { ...signed.headers, "content-type": contentType };
  delete headers["sm-schema-fingerprint"];
  if (encoding) headers["content-encoding"] = encoding;
  return app.inject({ method: "POST", url: "/v1/stats/batch", payload: bytes, headers });
}

describe("health, metrics and OpenAPI", () => {
  it("is live and ready when every dependency answers", async () => {
    expect((await app.inject("/health/live")).statusCode).toBe(200);
    const ready = await app.inject("/health/ready");
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({
      nats: { ok: true },
      postgres: { ok: true },
      redis: { ok: true },
    });
    // Ingest does not need ClickHouse: readiness does not wait for it, its own route reports it.
    expect(ready.json().checks.clickhouse).toBeUndefined();
    for (const path of ["/health/nats", "/health/db", "/health/redis", "/health/clickhouse"]) {
      expect((await app.inject(path)).statusCode, path).toBe(200);
    }
  });

  it("counts accepted items and refusals in Prometheus format", async () => {
    const res = await scrapeMetrics(config, deps);
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/smstats_ingest_items_total\{family="metrics",outcome="accepted"[^}]*\} [1-9]/);
    expect(res.body).toMatch(/smstats_auth_refused_total\{code="SIGNATURE_REUSED"[^}]*\} [1-9]/);
  });

  it("serves an OpenAPI document generated from the route schemas", async () => {
    const res = await app.inject("/docs/openapi.json");
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/stats/batch", "/v1/instances/register", "/v1/auth/refresh"]),
    );
    const body = doc.paths["/v1/stats/batch"].post.requestBody.content["application/json"].schema;
    expect(Object.keys(body.properties)).toEqual(
      expect.arrayContaining(["metrics", "library", "playback", "session", "environment"]),
    );
  });
});

/** Scrapes until `re`'s count reaches `atLeast` (the last sequence record of a test was counted), 2 s at most. */
async function metricsOnceSequenced(
  scrape: () => Promise<{ body: string }>,
  re: RegExp,
  atLeast: number,
): Promise<string> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const body = (await scrape()).body;
    if (Number(body.match(re)?.[1] ?? 0) >= atLeast || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 10));
  }
}

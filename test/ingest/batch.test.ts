import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject } from "../../lib/jetstream/index.ts";
import { type MetricsBatch, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";
import { seedBody, testIngest, uniqueId } from "../support/app.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
const registry = new SchemaRegistry();

beforeAll(async () => {
  ({ app, deps, config } = await testIngest());
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
  const fp = m.header.get(SCHEMA_FINGERPRINT_HEADER);
  return { seq: m.seq, batch: registry.decode<MetricsBatch>(m.data, fp).value };
}

async function streamMessages() {
  return (await deps.jsm.streams.info(config.nats.stream)).state.messages;
}

describe("POST /v1/stats/batch", () => {
  it("publishes the seed's example body to JetStream as Avro and answers 202", async () => {
    const id = uniqueId("seed");
    const res = await app.inject({ method: "POST", url: "/v1/stats/batch", payload: seedBody(id) });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 2, duplicate: false });
    const { batch } = await lastMessage();
    expect(batch).toMatchObject({
      instance_id: id,
      batch_id: res.json().batch_id,
      timestamp_ms: Date.parse("2026-01-06T12:00:00Z"),
      metrics: [
        { name: "songs_played_total", value: 42, tags: { source: "youtube" } },
        { name: "users_peak_concurrent", value: 15, tags: {} },
      ],
    });
  });

  it("stores the same batch posted twice once", async () => {
    const body = { ...seedBody(uniqueId("dup")), batch_id: "batch-1" };
    const before = await streamMessages();
    const first = await app.inject({ method: "POST", url: "/v1/stats/batch", payload: body });
    const second = await app.inject({ method: "POST", url: "/v1/stats/batch", payload: body });
    expect(first.json()).toMatchObject({ duplicate: false, accepted: 2 });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({ duplicate: true, accepted: 0 });
    expect(await streamMessages()).toBe(before + 1);
  });

  it.each([
    ["malformed JSON", '{"instance_id": "x", ', "application/json", 400, "MALFORMED_BODY"],
    ["an empty body", "", "application/json", 400, "MALFORMED_BODY"],
    [
      "a missing metrics field",
      JSON.stringify({ instance_id: "x", timestamp: "2026-01-06T12:00:00Z" }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "a missing instance_id",
      JSON.stringify({ timestamp: "2026-01-06T12:00:00Z", metrics: [{ name: "a", value: 1 }] }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "a non-numeric value",
      JSON.stringify({ ...seedBody("x"), metrics: [{ name: "a", value: "lots" }] }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "a bad timestamp",
      JSON.stringify({ ...seedBody("x"), timestamp: "yesterday" }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    [
      "an empty metrics list",
      JSON.stringify({ ...seedBody("x"), metrics: [] }),
      "application/json",
      400,
      "INVALID_BODY",
    ],
    ["a text body", "hello", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"],
  ])("rejects %s with a stable code and publishes nothing", async (_name, payload, type, status, code) => {
    const before = await streamMessages();
    const res = await app.inject({
      method: "POST",
      url: "/v1/stats/batch",
      payload,
      headers: { "content-type": type },
    });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error: { code, message: expect.any(String) } });
    expect(await streamMessages()).toBe(before);
  });

  it("rejects a body over the size limit with 413 and publishes nothing", async () => {
    const before = await streamMessages();
    const payload = JSON.stringify({ ...seedBody("big"), pad: "x".repeat(config.ingest.bodyLimit) });
    const res = await app.inject({
      method: "POST",
      url: "/v1/stats/batch",
      payload,
      headers: { "content-type": "application/json" },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe("BODY_TOO_LARGE");
    expect(await streamMessages()).toBe(before);
  });

  it("answers unknown routes with 404 NOT_FOUND", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/nope" });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("NOT_FOUND");
  });
});

describe("health and metrics", () => {
  it("is live and ready when every dependency answers", async () => {
    expect((await app.inject("/health/live")).statusCode).toBe(200);
    const ready = await app.inject("/health/ready");
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({
      nats: { ok: true },
      postgres: { ok: true },
      redis: { ok: true },
      clickhouse: { ok: true },
    });
    for (const path of ["/health/nats", "/health/db", "/health/redis", "/health/clickhouse"]) {
      expect((await app.inject(path)).statusCode, path).toBe(200);
    }
  });

  it("counts accepted metrics and errors by code in Prometheus format", async () => {
    const res = await app.inject("/metrics");
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(
      /smstats_component_sent_total\{[^}]*component="http_batch_source_metrics"[^}]*\} [1-9]/,
    );
    expect(res.body).toMatch(/smstats_http_errors_total\{[^}]*code="INVALID_BODY"[^}]*\} [1-9]/);
  });
});

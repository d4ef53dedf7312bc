import { connect } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import { CLAMPED_HEADER } from "../../ingest/routes/v1/stats/batch.ts";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject } from "../../lib/jetstream/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaRegistry,
} from "../../schemas/index.ts";
import { testIngest, uniqueId } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { postBatch, registerInstance, signedRequest, type TestInstance } from "../support/instance-client.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;
const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);

beforeAll(async () => {
  ({ app, deps, config } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }));
  instance = await registerInstance(app);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

const streamMessages = async () => (await deps.jsm.streams.info(config.nats.stream)).state.messages;
async function lastStored(): Promise<MetricsBatch> {
  const m = await deps.jsm.streams.getMessage(config.nats.stream, {
    last_by_subj: batchSubject(config.nats),
  });
  if (!m) throw new Error("no message");
  return registry.decode<MetricsBatch>(m.data, m.header.get(SCHEMA_FINGERPRINT_HEADER)).value;
}

/** A batch of one family only, with its first item (or the envelope) edited. */
function oneFamily(
  family: "library" | "environment" | "playback" | "quality",
  edit: (b: MetricsBatch) => void,
) {
  const batch = freshBatch(family, instance.instanceId, uniqueId("strict"));
  edit(batch);
  return batch;
}
const postAvro = (batch: MetricsBatch) =>
  postBatch(app, instance, latest.type.toBuffer(batch), { avro: { fingerprint: latest.fingerprint } });

describe("Avro batches ClickHouse would refuse are answered 400 at ingest, as their JSON is", () => {
  const lib = (b: MetricsBatch) => b.library[0] as MetricsBatch["library"][number];
  const env = (b: MetricsBatch) => b.environment as NonNullable<MetricsBatch["environment"]>;
  const play = (b: MetricsBatch) => b.playback[0] as MetricsBatch["playback"][number];
  const cases: [string, () => MetricsBatch, RegExp][] = [
    [
      "a negative unsigned count",
      () =>
        oneFamily("library", (b) => {
          lib(b).total_songs = -5;
        }),
      /total_songs/,
    ],
    [
      "cpu_cores past UInt16",
      () =>
        oneFamily("environment", (b) => {
          env(b).cpu_cores = 70_000;
        }),
      /cpu_cores/,
    ],
    [
      "a negative song duration",
      () =>
        oneFamily("playback", (b) => {
          b.playback = [play(b)];
          play(b).song.duration_sec = -1;
        }),
      /duration_sec/,
    ],
    [
      "a 1,000,000-character tag value",
      () =>
        oneFamily("quality", (b) => {
          b.metrics = [{ name: "m", value: 1, tags: { k: "v".repeat(1_000_000) }, time_ms: null }];
        }),
      /tags/,
    ],
    [
      "a negative per-source count",
      () =>
        oneFamily("library", (b) => {
          lib(b).songs_by_source = { youtube: -1 };
        }),
      /songs_by_source/,
    ],
  ];
  it.each(cases)("refuses %s", async (_name, build, reason) => {
    const batch = build();
    const before = await streamMessages();
    const avro = await postAvro({ ...batch, batch_id: uniqueId("a") });
    const json = await postBatch(app, instance, toJsonBody({ ...batch, batch_id: uniqueId("j") }));
    expect(avro.statusCode, avro.body).toBe(400);
    expect(avro.json().error.code).toBe("INVALID_BODY");
    expect(avro.json().rejected[0].reason).toMatch(reason);
    expect(json.statusCode, json.body).toBe(400);
    expect(json.json().error.code).toBe("INVALID_BODY");
    expect(await streamMessages()).toBe(before);
  });

  it("refuses a 100,000-character app_version in the envelope", async () => {
    const batch = oneFamily("quality", (b) => {
      b.app_version = "1".repeat(100_000);
    });
    const res = await postAvro(batch);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({
      code: "INVALID_BODY",
      message: expect.stringMatching(/app_version/),
    });
  });

  it("refuses an enum index past the symbols (a value Avro cannot name)", async () => {
    const batch = oneFamily("playback", () => {});
    const bytes = Buffer.from(latest.type.toBuffer(batch));
    const enumType = latest.type.toBuffer({
      ...batch,
      playback: [{ ...batch.playback[0], event_type: "removed" }],
    });
    const played = latest.type.toBuffer({
      ...batch,
      playback: [{ ...batch.playback[0], event_type: "played" }],
    });
    let at = 0;
    while (enumType[at] === played[at]) at++;
    bytes[at] = 0x20; // zigzag 16: index 16 of a 4-symbol enum
    const res = await postBatch(app, instance, bytes, { avro: { fingerprint: latest.fingerprint } });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("MALFORMED_BODY");
  });

  it("refuses NUL in an Avro string with the code JSON gets", async () => {
    const batch = oneFamily("environment", (b) => {
      env(b).os_version = "6.1\u0000";
    });
    const res = await postAvro(batch);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("INVALID_CHARACTER");
  });
});

describe("times", () => {
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  it("parses leap seconds, offsets, fractions and lower-case t/z, storing exact times", async () => {
    const times = {
      [`${day}T23:59:60Z`]: Date.parse(`${day}T23:59:59.999Z`),
      [`${day}t12:00:00z`]: Date.parse(`${day}T12:00:00Z`),
      [`${day}T12:00:00.123456789+05:30`]: Date.parse(`${day}T06:30:00.123Z`),
      [`${day}T12:00:00-08:00`]: Date.parse(`${day}T20:00:00Z`),
    };
    const body = {
      instance_id: instance.instanceId,
      batch_id: uniqueId("times"),
      timestamp: `${day}T23:59:60Z`,
      metrics: Object.keys(times).map((time, i) => ({ name: `t${i}`, value: i, time })),
    };
    const res = await postBatch(app, instance, body);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 4, rejected: [], clamped: 0 });
    const stored = await lastStored();
    expect(stored.timestamp_ms).toBe(Date.parse(`${day}T23:59:59.999Z`));
    expect(stored.metrics.map((m) => m.time_ms)).toEqual(Object.values(times));
  });

  it("drops an item with an unusable time alone and reports it", async () => {
    const res = await postBatch(app, instance, {
      instance_id: instance.instanceId,
      batch_id: uniqueId("bad-time"),
      timestamp: `${day}T12:00:00Z`,
      metrics: [
        { name: "ok", value: 1 },
        { name: "bad", value: 1, time: `${day}T12:00:61Z` },
        { name: "bad2", value: 1, time: "2026-02-30T00:00:00Z" },
      ],
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().accepted).toBe(1);
    expect(res.json().rejected.map((r: { index: number }) => r.index)).toEqual([1, 2]);
  });

  it("reports the items a far-future batch timestamp clamped: answer, header and counter", async () => {
    const counter = async () =>
      (await deps.metrics.getSingleMetric("smstats_ingest_items_clamped_total")?.get())?.values[0]?.value ??
      0;
    const before = await counter();
    const res = await postBatch(app, instance, {
      instance_id: instance.instanceId,
      batch_id: uniqueId("future"),
      timestamp: new Date(Date.now() + 365 * 86_400_000).toISOString(),
      metrics: [
        { name: "a", value: 1 },
        { name: "b", value: 2 },
      ],
      library: [{ total_songs: 3 }],
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().clamped).toBe(3);
    expect(res.headers[CLAMPED_HEADER]).toBe("3");
    expect((await counter()) - before).toBe(3);
    const stored = await lastStored();
    expect(stored.timestamp_ms).toBeLessThanOrEqual(Date.now());
  });
});

describe("strict parsing", () => {
  const register = (payload: unknown) =>
    app.inject({ method: "POST", url: "/v1/instances/register", payload: payload as object });
  const registration = () => ({
    hwid: `hw${Date.now()}${Math.random().toString(36).slice(2)}`,
    platform: "linux",
    version: "1.2.0",
    consent: { quality: true },
  });

  it("refuses a wrong type instead of coercing it", async () => {
    const res = await register({ ...registration(), platform: true });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("INVALID_BODY");
  });

  it("refuses unknown fields with UNKNOWN_FIELD, a misspelled family included", async () => {
    const res = await register({ ...registration(), plattform: "linux" });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({
      code: "UNKNOWN_FIELD",
      message: expect.stringMatching(/plattform/),
    });
    const batch = await postBatch(app, instance, {
      ...toJsonBody(freshBatch("quality", instance.instanceId, uniqueId("typo"))),
      sessions: [{ session_id: "s", event_type: "started" }],
    });
    expect(batch.statusCode, batch.body).toBe(400);
    expect(batch.json().error).toMatchObject({
      code: "UNKNOWN_FIELD",
      message: expect.stringMatching(/sessions/),
    });
  });

  it("refuses a key repeated in one object", async () => {
    const r = registration();
    const text = `{"hwid":"${r.hwid}","platform":"linux","version":"1.2.0","platform":"windows"}`;
    const res = await app.inject({
      method: "POST",
      url: "/v1/instances/register",
      headers: { "content-type": "application/json" },
      payload: text,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe("DUPLICATE_KEY");
  });

  it("refuses NUL and lone surrogates with INVALID_CHARACTER, in bodies and paths", async () => {
    for (const platform of ["li\u0000nux", "li\ud800nux"]) {
      const res = await register({ ...registration(), platform });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe("INVALID_CHARACTER");
    }
  });

  it("accepts the heartbeat's session_stats (a field the design names)", async () => {
    const body = { nonce: "n".repeat(22), session_stats: { users_peak_concurrent: 2, songs_played: 40 } };
    const req = await signedRequest(instance, body, { path: "/v1/auth/heartbeat" });
    const res = await app.inject({
      method: "POST",
      url: req.path,
      payload: req.payload,
      headers: req.headers,
    });
    expect(res.body).not.toMatch(/UNKNOWN_FIELD/);
    expect(res.statusCode, res.body).toBeLessThan(500);
  });
});

describe("the router's own answers are in the error shape", () => {
  it("answers 404, 405 (with Allow) and 414 with stable codes", async () => {
    const missing = await app.inject({ method: "GET", url: "/v1/nothing-here" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe("NOT_FOUND");
    const wrong = await app.inject({ method: "GET", url: "/v1/stats/batch" });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe("POST");
    expect(wrong.json().error.code).toBe("METHOD_NOT_ALLOWED");
    const propfind = await app.inject({ method: "PROPFIND", url: "/v1/stats/batch" });
    expect(propfind.statusCode).toBe(405);
    const long = await app.inject({ method: "GET", url: `/v1/admin/instances/${"a".repeat(5000)}` });
    expect(long.statusCode).toBe(414);
    expect(long.json().error.code).toBe("URL_TOO_LONG");
  });

  it("answers an HTTP method Node's parser does not know, with no content type, in the error shape", async () => {
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () =>
        socket.write("FROBNICATE /v1/stats/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
      );
      let data = "";
      socket.on("data", (c) => {
        data += c;
      });
      socket.on("close", () => resolve(data));
      socket.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 405 /);
    const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
    expect(body).toEqual({ error: { code: "METHOD_NOT_ALLOWED", message: expect.any(String) } });
  });
});

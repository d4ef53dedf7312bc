import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { fromJson } from "../../ingest/routes/v1/stats/from-json.ts";
import { decode } from "../../processors/steps/decode/index.ts";
import { enrich } from "../../processors/steps/enrich/index.ts";
import { route } from "../../processors/steps/route/index.ts";
import { METRICS_BATCH_SCHEMA, SCHEMA_FINGERPRINT_HEADER, SchemaRegistry } from "../../schemas/index.ts";

const registry = new SchemaRegistry();
const seedBody = {
  instance_id: "abc123",
  timestamp: "2026-01-06T12:00:00Z",
  metrics: [
    { name: "songs_played_total", value: 42, tags: { source: "youtube" } },
    { name: "users_peak_concurrent", value: 15 },
  ],
};

describe("batch ids", () => {
  it("gives the same id to the same body, so a retry is deduplicated", () => {
    const a = fromJson(seedBody, 1).batch;
    const b = fromJson(structuredClone(seedBody), 2).batch;
    expect(a.batch_id).toBe(b.batch_id);
    expect(fromJson({ ...seedBody, timestamp: "2026-01-06T12:00:01Z" }, 1).batch.batch_id).not.toBe(
      a.batch_id,
    );
  });

  it("keeps a client batch id and fills missing tags", () => {
    const r = fromJson({ ...seedBody, batch_id: "b-1" }, 1000).batch;
    expect(r).toMatchObject({
      batch_id: "b-1",
      timestamp_ms: Date.parse("2026-01-06T12:00:00Z"),
      received_at_ms: 1000,
    });
    expect(r.metrics[1]?.tags).toEqual({});
  });
});

describe("decode", () => {
  const schema = registry.latest(METRICS_BATCH_SCHEMA);
  const record = fromJson(seedBody, 1000).batch;
  const h = headers();
  h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);

  it("decodes what the publisher encodes", () => {
    const r = decode(registry, schema.type.toBuffer(record), h);
    expect(r).toEqual({ kind: "ok", value: record });
  });

  it("decodes an older writer's bytes into the latest version", () => {
    const v1 = registry.versions.find((v) => v.version === 1);
    if (!v1) throw new Error("v1 schema missing");
    const hv1 = headers();
    hv1.set(SCHEMA_FINGERPRINT_HEADER, v1.fingerprint);
    const bytes = v1.type.toBuffer({
      instance_id: "old",
      batch_id: "b",
      timestamp_ms: 1,
      received_at_ms: 2,
      metrics: [{ name: "m", value: 1, tags: {} }],
    });
    expect(decode(registry, bytes, hv1)).toMatchObject({
      kind: "ok",
      value: {
        instance_id: "old",
        seq: 0,
        metrics: [{ name: "m", time_ms: null }],
        playback: [],
        environment: null,
      },
    });
  });

  it.each([
    ["no schema header", undefined, "missing_schema_header"],
    ["an unknown fingerprint", "00", "unknown_schema"],
  ])("dead-letters a message with %s", (_name, fp, reason) => {
    const hh = headers();
    if (fp) hh.set(SCHEMA_FINGERPRINT_HEADER, fp);
    const r = decode(registry, schema.type.toBuffer(record), fp === undefined ? undefined : hh);
    expect(r).toMatchObject({ kind: "deadLetter", reason });
  });

  it("dead-letters bytes that do not decode", () => {
    expect(decode(registry, new Uint8Array([1, 2, 3]), h)).toMatchObject({
      kind: "deadLetter",
      reason: "undecodable",
    });
  });
});

describe("route (quality metrics)", () => {
  it("makes one metrics_quality row per metric with sorted tag arrays and per-metric times", () => {
    const batch = fromJson(
      {
        ...seedBody,
        metrics: [
          { name: "x", value: 1.5, tags: { b: "2", a: "1" } },
          { name: "y", value: 2, time: "2026-01-06T11:00:00Z" },
        ],
      },
      0,
    ).batch;
    const enriched = enrich(batch, {
      instance: { tier: "starter", platform: "linux", version: "1.2.0" },
      country: "",
    });
    if (enriched.kind !== "ok") throw new Error("enrich failed");
    const rows = route(
      { ...enriched.value, playback: [], session: [] },
      Date.parse("2026-01-06T12:00:03Z"),
    ).metrics_quality;
    expect(rows).toEqual([
      expect.objectContaining({
        time: "2026-01-06 12:00:00",
        instance_id: "abc123",
        metric_name: "x",
        value: 1.5,
        "tags.key": ["a", "b"],
        "tags.value": ["1", "2"],
        batch_id: expect.any(String),
        received_at: "2026-01-06 12:00:03",
      }),
      expect.objectContaining({ metric_name: "y", time: "2026-01-06 11:00:00" }),
    ]);
  });
});

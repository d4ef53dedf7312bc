import { describe, expect, it } from "vitest";
import {
  exampleBatches,
  fingerprints,
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  type MetricsBatchV1,
  SchemaError,
  SchemaRegistry,
} from "../../schemas/index.ts";

const registry = new SchemaRegistry();
const v1 = registry.versions.find((v) => v.name === METRICS_BATCH_SCHEMA && v.version === 1);
const v2 = registry.versions.find((v) => v.name === METRICS_BATCH_SCHEMA && v.version === 2);
if (!v1 || !v2) throw new Error("schemas/telemetry must hold metrics-batch v1 and v2");

const v1Batch: MetricsBatchV1 = {
  instance_id: "abc123",
  batch_id: "b-1",
  timestamp_ms: Date.parse("2026-01-06T12:00:00Z"),
  received_at_ms: Date.parse("2026-01-06T12:00:01Z"),
  metrics: [
    { name: "songs_played_total", value: 42, tags: { source: "youtube" } },
    { name: "users_peak_concurrent", value: 15, tags: {} },
  ],
};

describe("SchemaRegistry with v1 and v2 of MetricsBatch", () => {
  it("makes v2 the latest version and knows both fingerprints", () => {
    expect(registry.latest(METRICS_BATCH_SCHEMA)).toBe(v2);
    expect(registry.latest("MetricsBatch")).toBe(v2);
    expect(registry.find(fingerprints.MetricsBatchV1)).toBe(v1);
    expect(registry.find(fingerprints.MetricsBatchV2)).toBe(v2);
  });

  it("decodes v1 bytes into a v2 batch with every new field at its default", () => {
    const { value, writer } = registry.decode<MetricsBatch>(v1.type.toBuffer(v1Batch), v1.fingerprint);
    expect(writer).toBe(v1);
    expect(value).toEqual({
      instance_id: "abc123",
      batch_id: "b-1",
      seq: 0,
      sent_at_ms: 0,
      timestamp_ms: v1Batch.timestamp_ms,
      received_at_ms: v1Batch.received_at_ms,
      app_version: "",
      sdk_version: "",
      privacy: { anonymize_songs: true, anonymize_users: true, exclude_local: true },
      metrics: [
        { name: "songs_played_total", value: 42, tags: { source: "youtube" }, time_ms: null },
        { name: "users_peak_concurrent", value: 15, tags: {}, time_ms: null },
      ],
      library: [],
      playback: [],
      session: [],
      environment: null,
    });
    expect(v2.type.isValid(value)).toBe(true);
  });

  it("decodes v2 bytes without a resolver", () => {
    const batch = exampleBatches.everything;
    expect(registry.decode<MetricsBatch>(v2.type.toBuffer(batch), v2.fingerprint).value).toEqual(batch);
  });

  it("lets a v1 reader read v2 data, keeping the v1 fields and skipping the rest", () => {
    const batch = exampleBatches.everything;
    const old = v1.type.fromBuffer(
      v2.type.toBuffer(batch),
      v1.type.createResolver(v2.type),
    ) as MetricsBatchV1;
    expect(old).toEqual({
      instance_id: batch.instance_id,
      batch_id: batch.batch_id,
      timestamp_ms: batch.timestamp_ms,
      received_at_ms: batch.received_at_ms,
      metrics: batch.metrics.map(({ name, value, tags }) => ({ name, value, tags })),
    });
  });

  it("encodes a batch whose new fields are left out with their defaults", () => {
    // Writers built for v1 keep working: avsc writes the default of a field that is undefined.
    const decoded = v2.type.fromBuffer(v2.type.toBuffer(v1Batch)) as MetricsBatch;
    expect(decoded).toMatchObject({ seq: 0, environment: null, playback: [] });
  });

  it("rejects an unknown fingerprint and undecodable bytes with coded errors", () => {
    expect(() => registry.decode(new Uint8Array([1]), "00")).toThrow(
      expect.objectContaining({ name: "SchemaError", code: "SCHEMA_UNKNOWN" }),
    );
    const error = (() => {
      try {
        registry.decode(new Uint8Array([0xff, 0xff]), v1.fingerprint);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as SchemaError).code).toBe("SCHEMA_DECODE_FAILED");
  });
});

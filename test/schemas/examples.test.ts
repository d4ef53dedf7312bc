import { describe, expect, it } from "vitest";
import {
  exampleBatches,
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SchemaRegistry,
} from "../../schemas/index.ts";

const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
const cases = Object.entries(exampleBatches);

describe("example batches", () => {
  it("cover every telemetry family and one batch with all of them", () => {
    expect(Object.keys(exampleBatches).sort()).toEqual(
      ["environment", "everything", "library", "playback", "quality", "session"].sort(),
    );
    const { everything } = exampleBatches;
    expect(everything.metrics.length).toBeGreaterThan(0);
    expect(everything.library.length).toBeGreaterThan(0);
    expect(everything.playback.length).toBeGreaterThan(0);
    expect(everything.session.length).toBeGreaterThan(0);
    expect(everything.environment).not.toBeNull();
  });

  it.each(cases)("%s is valid for the latest schema version", (_, batch) => {
    const errors: string[] = [];
    const valid = latest.type.isValid(batch, { errorHook: (path) => errors.push(path.join(".")) });
    expect(errors).toEqual([]);
    expect(valid).toBe(true);
  });

  it.each(cases)("%s round-trips through the latest type's binary encoding", (_, batch) => {
    const decoded = latest.type.fromBuffer(latest.type.toBuffer(batch)) as MetricsBatch;
    expect(decoded).toEqual(batch);
  });

  it("the playback example has every event type and every skip reason, and a local file path", () => {
    const events = exampleBatches.playback.playback;
    expect(new Set(events.map((e) => e.event_type))).toEqual(
      new Set(["played", "skipped", "queued", "removed"]),
    );
    expect(new Set(events.map((e) => e.skip_reason).filter((r) => r !== null))).toEqual(
      new Set(["user", "admin", "error"]),
    );
    expect(events.find((e) => e.event_type === "played")?.song.file_path).toMatch(/^\//);
  });

  it("the quality example has mpv health and an api response time tagged with its operation", () => {
    const metrics = exampleBatches.quality.metrics;
    expect(metrics.some((m) => m.name === "mpv_health_status" && m.tags.status)).toBe(true);
    expect(metrics.some((m) => m.name === "api_response_times_ms" && m.tags.operation)).toBe(true);
  });

  it("an example that breaks the schema is rejected, so the validity test can fail", () => {
    const broken = {
      ...exampleBatches.playback,
      playback: [{ ...exampleBatches.playback.playback[0], event_type: "paused" }],
    };
    expect(latest.type.isValid(broken)).toBe(false);
  });
});

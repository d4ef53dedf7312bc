import { describe, expect, it } from "vitest";
import { type Consent, checkItems } from "../../ingest/routes/v1/stats/check-items.ts";
import { fromJson } from "../../ingest/routes/v1/stats/from-json.ts";

const now = Date.parse("2026-11-24T12:00:00Z");
const rules = { receivedAt: now, futureToleranceMs: 5 * 60_000, maxAgeMs: 90 * 86_400_000 };
const all: Consent = { quality: true, playback: true, session: true, library: true };

function body(extra: Record<string, unknown>) {
  return { instance_id: "i-1", timestamp: "2026-11-24T11:59:00Z", ...extra };
}

describe("fromJson (partial-batch policy)", () => {
  it("keeps valid items and reports each invalid one with its family, index and reason", () => {
    const { batch, rejected } = fromJson(
      body({
        metrics: [
          { name: "ok", value: 1 },
          { name: "bad name!", value: 1 },
          { name: "x", value: "1" },
        ],
        playback: [
          { event_type: "played", song: { source: "youtube" } },
          { event_type: "exploded", song: { source: "local" } },
        ],
      }),
      now,
    );
    expect(batch.metrics.map((m) => m.name)).toEqual(["ok"]);
    expect(batch.playback).toHaveLength(1);
    expect(rejected).toEqual([
      { family: "metrics", index: 1, reason: expect.stringMatching(/name/) },
      { family: "metrics", index: 2, reason: expect.stringMatching(/value/) },
      { family: "playback", index: 1, reason: expect.stringMatching(/event_type/) },
    ]);
  });

  it("fills item times from the batch timestamp and defaults the privacy flags to anonymize", () => {
    const { batch } = fromJson(
      body({
        library: [{ total_songs: 10 }],
        metrics: [{ name: "a", value: 1, time: "2026-11-24T11:00:00Z" }],
      }),
      now,
    );
    expect(batch.library[0]?.time_ms).toBe(Date.parse("2026-11-24T11:59:00Z"));
    expect(batch.metrics[0]?.time_ms).toBe(Date.parse("2026-11-24T11:00:00Z"));
    expect(batch.privacy).toEqual({ anonymize_songs: true, anonymize_users: true, exclude_local: true });
    expect(batch.batch_id).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

describe("checkItems", () => {
  it.each([
    ["accepts events weeks late", "2026-10-20T00:00:00Z", { kept: 1, clamped: 0, rejected: 0 }],
    [
      "clamps a time beyond the future tolerance to the receive time",
      "2026-11-24T13:00:00Z",
      { kept: 1, clamped: 1, rejected: 0 },
    ],
    [
      "keeps a time within the future tolerance",
      "2026-11-24T12:04:00Z",
      { kept: 1, clamped: 0, rejected: 0 },
    ],
    [
      "rejects a time older than the accepted age",
      "2025-01-01T00:00:00Z",
      { kept: 0, clamped: 0, rejected: 1 },
    ],
  ])("%s", (_name, time, expected) => {
    const { batch } = fromJson(body({ metrics: [{ name: "a", value: 1, time }] }), now);
    const r = checkItems(batch, all, rules);
    expect({ kept: r.batch.metrics.length, clamped: r.clamped, rejected: r.rejected.length }).toEqual(
      expected,
    );
    if (expected.clamped) expect(r.batch.metrics[0]?.time_ms).toBe(now);
  });

  it("drops the families an instance did not consent to and counts them", () => {
    const { batch } = fromJson(
      body({
        metrics: [{ name: "a", value: 1 }],
        playback: [
          { event_type: "played", song: { source: "local" } },
          { event_type: "queued", song: { source: "local" } },
        ],
        session: [{ session_id: "s", event_type: "started" }],
        environment: { version: "1.2.0", os_platform: "linux" },
      }),
      now,
    );
    const r = checkItems(batch, { quality: true, playback: false, session: false, library: true }, rules);
    expect(r.filtered).toEqual({ playback: 2, session: 1 });
    expect(r.batch.playback).toEqual([]);
    expect(r.batch.environment).not.toBeNull();
    expect(r.items).toBe(2);
    expect(r.changed).toBe(true);
  });

  it("stores only the environment of an instance that never consented", () => {
    const { batch } = fromJson(
      body({
        metrics: [{ name: "uptime_seconds", value: 1 }],
        library: [{ total_songs: 10 }],
        playback: [{ event_type: "played", song: { source: "local" } }],
        session: [{ session_id: "s", event_type: "started" }],
        environment: { version: "1.2.0", os_platform: "linux" },
      }),
      now,
    );
    const none = { quality: false, playback: false, session: false, library: false };
    const r = checkItems(batch, none, rules);
    expect(r.filtered).toEqual({ metrics: 1, library: 1, playback: 1, session: 1 });
    expect(r.filteredMetrics).toEqual({ quality: 1 });
    expect(r.batch.environment).not.toBeNull();
    expect(r.items).toBe(1);
  });

  it("files a metric under the family its name means, and drops it without that family's consent", () => {
    const { batch } = fromJson(
      body({
        metrics: [
          { name: "songs_played_total", value: 42 },
          { name: "users_peak_concurrent", value: 15 },
          { name: "library_scan_seconds", value: 3 },
          { name: "bad name!", value: 1 },
          { name: "error_count_by_type", value: 2 },
        ],
      }),
      now,
    );
    const r = checkItems(batch, { quality: true, playback: false, session: false, library: false }, rules);
    expect(r.batch.metrics.map((m) => m.name)).toEqual(["error_count_by_type"]);
    expect(r.filtered).toEqual({ metrics: 3 });
    expect(r.filteredMetrics).toEqual({ playback: 1, session: 1, library: 1 });
    // A metric filed under a consented family is kept whatever the quality consent says.
    const playbackOnly = checkItems(
      batch,
      { quality: false, playback: true, session: false, library: false },
      rules,
    );
    expect(playbackOnly.batch.metrics.map((m) => m.name)).toEqual(["songs_played_total"]);
  });

  it("files a metric whose name is not a string under quality and rejects it, never throws", () => {
    const { batch } = fromJson(body({ metrics: [{ name: "ok", value: 1 }] }), now);
    const odd = { ...batch, metrics: [...batch.metrics, { name: 7, value: 1, tags: {}, time_ms: null }] };
    const r = checkItems(odd as unknown as typeof batch, all, rules);
    expect(r.rejected).toEqual([{ family: "metrics", index: 1, reason: expect.stringMatching(/name/) }]);
  });

  it("rejects values JSON cannot carry but Avro can (NaN, infinities)", () => {
    const { batch } = fromJson(body({ metrics: [{ name: "a", value: 1 }] }), now);
    const r = checkItems(
      { ...batch, metrics: [...batch.metrics, { name: "b", value: Number.NaN, tags: {}, time_ms: null }] },
      all,
      rules,
    );
    expect(r.rejected).toEqual([
      { family: "metrics", index: 1, reason: expect.stringMatching(/^value must be number/) },
    ]);
  });

  it("leaves a valid batch unchanged, so an Avro body can be passed through as it came", () => {
    const { batch } = fromJson(body({ metrics: [{ name: "a", value: 1 }] }), now);
    expect(checkItems(batch, all, rules).changed).toBe(false);
  });
});

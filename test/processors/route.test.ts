import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { metricsJsonEachRow } from "../../processors/sinks/clickhouse/index.ts";
import { anonymize, identifierHash, storedBatchId } from "../../processors/steps/anonymize/index.ts";
import { enrich } from "../../processors/steps/enrich/index.ts";
import { clickhouseDateTime, RAW_TABLES, route } from "../../processors/steps/route/index.ts";
import { exampleBatches } from "../../schemas/index.ts";

const secret = Buffer.alloc(32, 9);
const instance = { tier: "party_host", platform: "linux", version: "1.4.2" };

function rowsOf(family: keyof typeof exampleBatches, optIn?: boolean) {
  const batch = structuredClone(exampleBatches[family]);
  if (optIn !== undefined)
    batch.privacy = { anonymize_songs: !optIn, anonymize_users: true, exclude_local: true };
  const enriched = enrich(batch, { instance, country: "NL" });
  if (enriched.kind !== "ok") throw new Error("enrich failed");
  return { batch, rows: route(anonymize(enriched.value, { secret }), Date.parse("2026-01-06T21:00:03Z")) };
}

describe("route", () => {
  it("makes one row per item in the family's table, with the common columns first", () => {
    const { batch, rows } = rowsOf("everything");
    expect(rows.metrics_quality).toHaveLength(batch.metrics.length);
    expect(rows.events_playback).toHaveLength(batch.playback.length);
    expect(rows.events_session).toHaveLength(batch.session.length);
    expect(rows.snapshots_library).toHaveLength(batch.library.length);
    expect(rows.environment).toHaveLength(batch.environment ? 1 : 0);
    for (const table of RAW_TABLES) {
      rows[table].forEach((row, i) => {
        expect(Object.keys(row).slice(0, 9)).toEqual([
          "time",
          "instance_id",
          "tier",
          "app_version",
          "platform",
          "country",
          "batch_id",
          "row_index",
          "received_at",
        ]);
        expect(row).toMatchObject({
          tier: "party_host",
          country: "NL",
          // A batch id not in a fixed format is stored as its keyed hash (the shape rules).
          batch_id: storedBatchId(secret, batch.instance_id, batch.batch_id),
          row_index: i,
        });
      });
    }
  });

  it("writes absent values as '' or 0 and flags a measured wait", () => {
    const batch = structuredClone(exampleBatches.playback);
    const [base] = batch.playback;
    if (!base) throw new Error("the playback example has no event");
    // One event with every optional field absent, one with each of them present (a wait of 0 s is a
    // measured wait, not an absent one).
    batch.playback = [
      {
        ...base,
        event_type: "skipped",
        session_id: null,
        skip_reason: null,
        wait_time_sec: null,
        songs_played_session: null,
        songs_played_total: null,
        song: { ...base.song, duration_sec: null },
      },
      {
        ...base,
        event_type: "played",
        session_id: "s-1",
        skip_reason: "user",
        wait_time_sec: 0,
        songs_played_session: 3,
        songs_played_total: 40,
        song: { ...base.song, duration_sec: 181 },
      },
    ];
    const enriched = enrich(batch, { instance, country: "NL" });
    if (enriched.kind !== "ok") throw new Error("enrich failed");
    const [absent, present] = route(anonymize(enriched.value, { secret }), 0).events_playback;
    expect(absent).toMatchObject({
      session_id: "",
      skip_reason: "",
      wait_time_sec: 0,
      has_wait: 0,
      songs_played_session: 0,
      songs_played_total: 0,
      song_duration_sec: 0,
    });
    expect(present).toMatchObject({
      session_id: identifierHash(secret, "playback.session_id", batch.instance_id, "s-1"),
      skip_reason: "user",
      wait_time_sec: 0,
      has_wait: 1,
      songs_played_session: 3,
      songs_played_total: 40,
      song_duration_sec: 181,
    });
    for (const row of [absent, present])
      for (const [column, value] of Object.entries(row ?? {}))
        expect(value === null || value === undefined, column).toBe(false);
  });

  it.each([false, true])("carries no file path or user id, and titles only with the opt-in (%s)", (optIn) => {
    const { batch, rows } = rowsOf("everything", optIn);
    const text = JSON.stringify(rows);
    for (const e of batch.playback) {
      if (e.song.file_path) expect(text).not.toContain(e.song.file_path);
      if (e.user_id) expect(text).not.toContain(e.user_id);
      if (e.song.title && e.song.source !== "local") expect(text.includes(e.song.title)).toBe(optIn);
    }
  });
});

describe("clickhouseDateTime", () => {
  it("formats any instant as toISOString does, to the second", () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e12, max: 8.64e12 }), (ms) => {
        const expected = new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace("T", " ");
        expect(clickhouseDateTime(ms)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("metricsJsonEachRow", () => {
  const enriched = (batch: (typeof exampleBatches)["quality"]) => {
    const e = enrich(batch, { instance, country: "NL" });
    if (e.kind !== "ok") throw new Error("enrich failed");
    return anonymize(e.value, { secret });
  };
  const asRouteWouldWrite = (b: ReturnType<typeof enriched>, at: number) =>
    route(b, at)
      .metrics_quality.map((r) => `${JSON.stringify(r)}\n`)
      .join("");

  it("writes exactly the JSON of route's metric rows, and leaves them out of route when asked", () => {
    const b = enriched(structuredClone(exampleBatches.everything));
    const at = Date.parse("2026-01-06T21:00:03Z");
    const json = metricsJsonEachRow(b, at);
    expect(json.body.toString()).toBe(asRouteWouldWrite(b, at));
    expect(json.count).toBe(b.metrics.length);
    const times = route(b, at).metrics_quality.map((r) => r.time as string);
    expect([json.minTime, json.maxTime]).toEqual([times.sort()[0], times.at(-1)]);
    expect(route(b, at, undefined, { metrics: false }).metrics_quality).toEqual([]);
  });

  it("matches JSON.stringify for any names, values, tags and times", () => {
    const text = fc.string({ unit: "binary", maxLength: 12 });
    const metric = fc.record({
      name: text,
      value: fc.double(),
      tags: fc.dictionary(text, text, { maxKeys: 4 }),
      time_ms: fc.option(fc.integer({ min: 0, max: 4e12 }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(metric, { maxLength: 6 }), text, (metrics, batchId) => {
        const b = enriched({ ...structuredClone(exampleBatches.quality), batch_id: batchId, metrics });
        expect(metricsJsonEachRow(b, 1_700_000_000_000).body.toString()).toBe(
          asRouteWouldWrite(b, 1_700_000_000_000),
        );
      }),
      { numRuns: 500 },
    );
  });
});

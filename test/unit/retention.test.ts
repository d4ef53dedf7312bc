import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/index.ts";
import { judgePartition, parsePartition } from "../../processors/retention/index.ts";

const retention = loadConfig({
  ...process.env,
  SMSTATS_RETENTION_RAW_DAYS: "starter=90,venue=730",
  SMSTATS_RETENTION_ROLLUP_DAYS: "minute=35,hour=400,day=1830",
}).retention;
const NOW = Date.parse("2026-11-25T00:00:00Z");
const judge = (table: string, partition: string) =>
  judgePartition(retention, NOW, { table, partition, partitionId: "x", rows: 1 })?.drop;

describe("retention decisions", () => {
  it("reads both partition texts system.parts prints", () => {
    expect(parsePartition("('starter','2026-01-05')")).toEqual({
      tier: "starter",
      start: Date.parse("2026-01-05T00:00:00Z"),
    });
    expect(parsePartition("'2026-01-05'")).toEqual({ tier: null, start: Date.parse("2026-01-05T00:00:00Z") });
    expect(parsePartition("tuple()")).toBeNull();
  });

  it("keeps the record of stored batches 14 days past the end of each week", () => {
    // NOW is Wednesday 2026-11-25: the week of 2026-11-02 ended 11-09, 16 days ago; 11-09's ended 11-16.
    expect(judge("inserted_batches", "'2026-11-02'")).toBe(true);
    expect(judge("inserted_batches", "'2026-11-09'")).toBe(false);
  });

  it("drops a raw week only once all of it is past the tier's days", () => {
    // 90 days before 2026-11-25 is 2026-08-27: the week of 08-17 ends 08-24 (goes), of 08-24 ends 08-31 (stays).
    expect(judge("events_playback", "('starter','2026-08-17')")).toBe(true);
    expect(judge("events_playback", "('starter','2026-08-24')")).toBe(false);
    expect(judge("events_playback", "('party_host','2026-08-17')")).toBe(true); // unlisted: starter's
    expect(judge("events_playback", "('venue','2026-08-17')")).toBe(false);
  });

  it("keeps rollups by grain, by whole months, and leaves unknown tables alone", () => {
    expect(judge("quality_1m", "('venue','2026-09-01')")).toBe(true); // ends 10-01, cutoff 10-21
    expect(judge("quality_1m", "('venue','2026-10-01')")).toBe(false);
    expect(judge("quality_1h", "('starter','2026-01-01')")).toBe(false);
    expect(judge("quality_1h", "('starter','2025-09-01')")).toBe(true);
    expect(judge("schema_migrations", "tuple()")).toBeUndefined();
  });

  it("refuses a configuration whose rollups are all shorter than raw rows", () => {
    expect(() =>
      loadConfig({ ...process.env, SMSTATS_RETENTION_ROLLUP_DAYS: "minute=1,hour=2,day=3" }),
    ).toThrow(/shorter than the raw rows/);
  });
});

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

  it("keeps per-instance rollups as long as their tier's raw rows, or a longer configured time", () => {
    // 90 days before 2026-11-25 is 08-27: starter's July (ends 08-01) goes, August (ends 09-01) stays.
    for (const table of ["playback_instance_1d", "library_1d", "library_file_types_1d"]) {
      expect(judge(table, "('starter','2026-07-01')"), table).toBe(true);
      expect(judge(table, "('starter','2026-08-01')"), table).toBe(false);
      expect(judge(table, "('venue','2026-07-01')"), table).toBe(false);
    }
    // A fleet rollup of the same month stays for its grain's 1830 days.
    expect(judge("playback_1d", "('starter','2026-07-01')")).toBe(false);
    const longer = loadConfig({
      ...process.env,
      SMSTATS_RETENTION_RAW_DAYS: "starter=90,venue=730",
      SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS: "starter=400",
    }).retention;
    const part = {
      table: "playback_instance_1d",
      partition: "('starter','2026-07-01')",
      partitionId: "x",
      rows: 1,
    };
    expect(judgePartition(longer, NOW, part)?.drop).toBe(false);
    expect(() =>
      loadConfig({ ...process.env, SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS: "starter=30" }),
    ).toThrow(/shorter than its raw rows/);
  });

  it("refuses a configuration whose rollups are all shorter than raw rows", () => {
    expect(() =>
      loadConfig({ ...process.env, SMSTATS_RETENTION_ROLLUP_DAYS: "minute=1,hour=2,day=3" }),
    ).toThrow(/shorter than the raw rows/);
  });
});

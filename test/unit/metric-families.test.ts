import { describe, expect, it } from "vitest";
import { METRIC_FAMILY_TABLE, metricFamily } from "../../schemas/index.ts";

describe("metricFamily: one table files a metric by what its name means", () => {
  it.each([
    ["songs_played_total", "playback"],
    ["songs.played.total", "playback"],
    ["wait_time_sec", "playback"],
    ["playback_errors", "playback"],
    ["users_peak_concurrent", "session"],
    ["Users_Joined_Total", "session"],
    ["room_count", "session"],
    ["session_length_sec", "session"],
    ["library_scan_seconds", "library"],
    ["total_songs", "library"],
    ["songs_by_source", "library"],
    ["error_count_by_type", "quality"],
    ["api_response_times_ms", "quality"],
    ["uptime_seconds", "quality"],
    ["cpu_usage_percent", "quality"],
  ])("%s is %s", (name, family) => {
    expect(metricFamily(name)).toBe(family);
  });

  it("files names the same however many a client makes up (the memo of names starts over when full)", () => {
    for (let i = 0; i < 10_000; i++) {
      expect(metricFamily(`Songs.made_up_${i}`)).toBe("playback");
      expect(metricFamily(`made_up_${i}`)).toBe("quality");
    }
    expect(metricFamily("songs_by_source")).toBe("library");
    expect(metricFamily("users_peak_concurrent")).toBe("session");
  });

  it("takes every field of the design's family records, so a new field is filed at once", () => {
    expect(METRIC_FAMILY_TABLE.playback.names).toContain("songs_played_total");
    expect(METRIC_FAMILY_TABLE.session.names).toContain("users_by_role");
    expect(METRIC_FAMILY_TABLE.library.names).toContain("total_size_gb");
    expect(METRIC_FAMILY_TABLE.playback.names).not.toContain("session_id");
  });
});

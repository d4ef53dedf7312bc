import { describe, expect, it } from "vitest";
import { preaggregate } from "../../processors/steps/downsample/index.ts";

const T = Date.parse("2026-01-05T12:00:00Z");
const health = (value: number, at: number | null, status = ["ok", "degraded", "dead"][value] as string) => ({
  name: "mpv_health_status",
  value,
  tags: { status },
  time_ms: at,
});

describe("preaggregate", () => {
  it("keeps the worst mpv health sample of each minute, with its status and the number combined", () => {
    const batch = {
      timestamp_ms: T + 50_000,
      metrics: [
        health(0, T + 5_000),
        { name: "cpu_usage_percent", value: 12, tags: {}, time_ms: T + 6_000 },
        health(1, T + 35_000),
        health(0, null), // batch time: same minute
        health(2, T + 65_000), // next minute, alone
      ],
    };
    const { batch: out, report } = preaggregate(batch);
    expect(out.metrics).toEqual([
      { name: "mpv_health_status", value: 1, tags: { status: "degraded", samples: "3" }, time_ms: T },
      { name: "cpu_usage_percent", value: 12, tags: {}, time_ms: T + 6_000 },
      { name: "mpv_health_status", value: 2, tags: { status: "dead", samples: "1" }, time_ms: T + 60_000 },
    ]);
    expect(report).toEqual({ samples: 4, rows: 2 });
    expect(batch.metrics).toHaveLength(5); // pure: the input is untouched
  });

  it("passes batches without such metrics through unchanged", () => {
    const batch = {
      timestamp_ms: T,
      metrics: [{ name: "memory_usage_mb", value: 1, tags: {}, time_ms: null }],
    };
    const { batch: out, report } = preaggregate(batch);
    expect(out.metrics).toEqual(batch.metrics);
    expect(report).toEqual({ samples: 0, rows: 0 });
  });
});

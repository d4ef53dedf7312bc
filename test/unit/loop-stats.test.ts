import { afterEach, describe, expect, it, vi } from "vitest";
import { gcBetween, loopStats, waitsBetween } from "../../bench/pipeline/loop-stats.ts";

const scrape = (text: string) => {
  vi.stubGlobal("fetch", async () => new Response(text));
  return loopStats("http://127.0.0.1:1/metrics");
};
const waits = (on: string, counts: [string, number][]) =>
  counts.map(
    ([le, n]) => `smstats_ingest_store_wait_seconds_bucket{le="${le}",on="${on}",process="ingest"} ${n}`,
  );

afterEach(() => vi.unstubAllGlobals());

describe("the pipeline bench's reading of ingest's /metrics", () => {
  it("takes GC and store waits between two scrapes, and the bucket holding the 99th percentile", async () => {
    const before = await scrape(
      [
        'smstats_nodejs_gc_duration_seconds_count{kind="minor",process="ingest"} 10',
        'smstats_nodejs_gc_duration_seconds_sum{kind="minor",process="ingest"} 0.05',
        ...waits("jetstream_ack", [
          ["0.001", 0],
          ["0.005", 0],
          ["0.025", 0],
          ["+Inf", 0],
        ]),
      ].join("\n"),
    );
    const after = await scrape(
      [
        'smstats_nodejs_eventloop_lag_max_seconds{process="ingest"} 0.0594',
        'smstats_nodejs_gc_duration_seconds_count{kind="minor",process="ingest"} 110',
        'smstats_nodejs_gc_duration_seconds_sum{kind="minor",process="ingest"} 0.45',
        // 1,000 acks: 900 within 1 ms, 985 within 5 ms, 995 within 25 ms.
        ...waits("jetstream_ack", [
          ["0.001", 900],
          ["0.005", 985],
          ["0.025", 995],
          ["+Inf", 1000],
        ]),
      ].join("\n"),
    );
    expect(after?.lagMaxMs).toBeCloseTo(59.4);
    expect(gcBetween(before, after)).toBe("minor 100 (400 ms)");
    expect(waitsBetween(before, after)).toBe("jetstream_ack p99 ≤ 25 ms (n 1,000)");
    expect(waitsBetween(before, after, 0.9)).toBe("jetstream_ack p90 ≤ 1 ms (n 1,000)");
  });
});

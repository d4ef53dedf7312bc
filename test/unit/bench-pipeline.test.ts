import { describe, expect, it } from "vitest";
import { seriesOf } from "../../bench/pipeline/chart.ts";
import { lagsMs, type PhaseResult, quantile } from "../../bench/pipeline/drive.ts";

const phase = (acceptedAtMs: number[], visibleSamples: [number, number][]): PhaseResult => ({
  name: "t",
  targetRate: undefined,
  seconds: 3,
  accepted: acceptedAtMs.length,
  refused: {},
  latencyMs: { p50: 0, p99: 0 },
  acceptedAtMs,
  acceptedIds: [],
  visibleSamples,
  allVisibleAtMs: visibleSamples.at(-1)?.[0],
  cpu: { generator: 0, others: {}, machine: undefined, steal: undefined },
});

describe("pipeline benchmark arithmetic", () => {
  it("takes the k-th accepted batch as visible at the first sample showing k batches", () => {
    const p = phase(
      [100, 200, 300, 1_100],
      [
        [250, 0],
        [500, 2],
        [750, 2],
        [1_000, 3],
        [1_250, 3],
        [1_500, 4],
      ],
    );
    expect(lagsMs(p)).toEqual([400, 300, 700, 400]);
  });

  it("leaves out batches never seen (the wait ended first)", () => {
    expect(lagsMs(phase([100, 200], [[500, 1]]))).toEqual([400]);
  });

  it("picks nearest-rank quantiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBeUndefined();
  });

  it("turns timelines into per-second accepted and visible metrics/s", () => {
    const s = seriesOf(
      phase(
        [100, 900, 1_500],
        [
          [1_200, 2],
          [2_100, 3],
        ],
      ),
      0,
      100,
    );
    expect(s.acceptedPerS.slice(0, 3)).toEqual([200, 100, 0]);
    expect(s.visiblePerS.slice(0, 3)).toEqual([0, 200, 100]);
  });
});

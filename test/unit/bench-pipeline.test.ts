import { describe, expect, it } from "vitest";
import { seriesOf } from "../../bench/pipeline/chart.ts";
import { lagsMs, type PhaseResult, quantile } from "../../bench/pipeline/drive.ts";
import {
  busyWarning,
  cpuMicrosPerMetric,
  pipelineTargets,
  renderTargets,
} from "../../bench/pipeline/targets.ts";

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
  cpuSeconds: 3,
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

describe("pipeline benchmark targets", () => {
  const figures = {
    aCeilingPerS: 100_000,
    bPipelinePerS: 60_000,
    cClickHousePerS: 20_000,
    cPostgresPerS: 40_000,
    ingestP99MsAtHalf: 19,
    lagP99MsAtHalf: 1_999,
    lost: 0,
    duplicated: 0,
  };
  const verdicts = (f: typeof figures) =>
    Object.fromEntries(
      (
        [
          ["b/a", 0],
          ["pg", 1],
          ["ch", 2],
          ["p99", 3],
          ["lag", 4],
          ["lost", 5],
          ["dup", 6],
        ] as const
      ).map(([k, i]) => [k, pipelineTargets(f)[i]?.met]),
    );

  it("meets each target at its threshold and misses it just past", () => {
    expect(Object.values(verdicts(figures)).every(Boolean)).toBe(true);
    expect(
      verdicts({
        ...figures,
        aCeilingPerS: 100_001,
        ingestP99MsAtHalf: 20,
        lagP99MsAtHalf: 2_000,
        lost: 1,
        duplicated: 1,
      }),
    ).toEqual({ "b/a": false, pg: true, ch: true, p99: false, lag: false, lost: false, dup: false });
    expect(verdicts({ ...figures, cPostgresPerS: 40_001, cClickHousePerS: 20_001 })).toMatchObject({
      pg: false,
      ch: false,
    });
  });

  it("counts a figure it could not measure as missed, and prints it so", () => {
    const lines = pipelineTargets({ ...figures, lagP99MsAtHalf: undefined });
    expect(lines[4]?.met).toBe(false);
    expect(renderTargets(lines)[4]).toMatch(/MISSED .*not measured/);
  });

  it("gives CPU per accepted metric from cores, seconds and metrics", () => {
    const per = cpuMicrosPerMetric(
      { generator: 0.5, others: { ingest: 1, gone: undefined }, machine: 2, steal: 0 },
      10,
      1_000_000,
    );
    expect(per).toEqual({ gen: 5, ingest: 10, gone: undefined, box: 20 });
  });

  it("warns when the machine was busy before the run, not when it was quiet", () => {
    expect(busyWarning(0.1, 2)).toBeUndefined();
    expect(busyWarning(1.5, 2)).toMatch(/150% busy .*idle 50% of 200%/);
  });
});

import type { CpuShare } from "../ingest/cpu.ts";

/** One row of issue 19's table as the pipeline bench measures it. */
export interface TargetLine {
  what: string;
  /** The figure measured; undefined when the run could not measure it. */
  measured: number | undefined;
  /** "≥" (at least) or "<" (below). */
  op: "≥" | "<";
  target: number;
  unit: string;
  met: boolean;
}

/** The figures the targets are judged on, all from one run. */
export interface PipelineFigures {
  aCeilingPerS: number;
  bPipelinePerS: number;
  cClickHousePerS: number;
  cPostgresPerS: number;
  ingestP99MsAtHalf: number | undefined;
  lagP99MsAtHalf: number | undefined;
  lost: number;
  duplicated: number;
}

const line = (what: string, measured: number | undefined, op: "≥" | "<", target: number, unit = "") => ({
  what,
  measured,
  op,
  target,
  unit,
  met:
    measured !== undefined &&
    Number.isFinite(measured) &&
    (op === "≥" ? measured >= target : measured < target),
});

/** Issue 19's pipeline targets, met or not, with their figures. */
export function pipelineTargets(f: PipelineFigures): TargetLine[] {
  return [
    line(
      "pipeline end to end vs ClickHouse's bulk-insert ceiling (b/a)",
      f.bPipelinePerS / f.aCeilingPerS,
      "≥",
      0.6,
    ),
    line(
      "pipeline vs the design's PostgreSQL plan (b/c pg)",
      f.bPipelinePerS / f.cPostgresPerS,
      "≥",
      1.5,
      "×",
    ),
    line(
      "pipeline vs each request into ClickHouse (b/c ch)",
      f.bPipelinePerS / f.cClickHousePerS,
      "≥",
      3,
      "×",
    ),
    line("ingest p99 at half the max rate", f.ingestP99MsAtHalf, "<", 20, " ms"),
    line("accept → visible lag p99 at half rate", f.lagP99MsAtHalf, "<", 2000, " ms"),
    line("metrics lost", f.lost, "<", 1),
    line("metrics duplicated", f.duplicated, "<", 1),
  ];
}

/** The targets as printed: one line each, the figure and whether it is met. */
export function renderTargets(lines: TargetLine[]): string[] {
  return lines.map((l) => {
    const figure =
      l.measured === undefined || !Number.isFinite(l.measured)
        ? "not measured"
        : `${l.measured.toLocaleString("en-US", { maximumFractionDigits: l.unit === " ms" ? 0 : 2 })}${l.unit}`;
    const target = l.what.startsWith("metrics ") ? "0" : `${l.op} ${l.target}${l.unit}`;
    return `  ${l.met ? "met   " : "MISSED"}  ${l.what}: ${figure} (target ${target})`;
  });
}

/**
 * CPU per accepted metric, µs, for each process watched and for the whole box, over a phase: the cores
 * each used × the seconds measured ÷ the metrics accepted. The box's figure includes other people's work.
 */
export function cpuMicrosPerMetric(
  cpu: CpuShare,
  cpuSeconds: number,
  metrics: number,
): Record<string, number | undefined> {
  const per = (cores: number | undefined) =>
    cores === undefined || metrics <= 0 ? undefined : (cores * cpuSeconds * 1e6) / metrics;
  return {
    gen: per(cpu.generator),
    ...Object.fromEntries(Object.entries(cpu.others).map(([k, v]) => [k, per(v)])),
    box: per(cpu.machine),
  };
}

/** Idle cores this much below the machine's count make the run's ratios unreliable. */
export const BUSY_MACHINE_CORES = 0.2;

/** A warning when other work kept the machine busy before the run; undefined on a quiet machine. */
export function busyWarning(busyCores: number | undefined, cpus: number): string | undefined {
  if (busyCores === undefined || busyCores <= BUSY_MACHINE_CORES) return undefined;
  return (
    `WARNING: the machine was ${Math.round(busyCores * 100)}% busy before the run (idle ${Math.round(
      Math.max(0, cpus - busyCores) * 100,
    )}% of ${cpus * 100}%): other work shares the cores, so every rate and ratio below is ` +
    "not a quiet-machine figure and does not judge the targets; compare the CPU per metric instead"
  );
}

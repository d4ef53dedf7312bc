import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { METRICS_PER_BATCH } from "./bodies.ts";
import type { CpuShare } from "./cpu.ts";
import type { LoadResult } from "./load.ts";

/** The three things measured: the bare Fastify handler, and the ingest with JSON and with Avro bodies. */
export type Mode = "bare" | "json" | "avro";

/** One mode's measured run. */
export interface ModeResult {
  mode: Mode;
  result: LoadResult;
}

/** Settings of a benchmark run, recorded with its results. */
export interface RunSettings {
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  instances: number;
  /** Whose nats-server the ingest published to: the local stack's, or one of the benchmark's own. */
  nats: "stack" | "private";
  /** Ingest processes on the port, and each one's semi-space in MB (0 = Node's default). */
  processes: number;
  semiSpaceMb: number;
}

/**
 * A target from the issue: the mode at least `ratio` × the bare handler, judged as the issue measures it,
 * by CPU per accepted batch (bare µs ÷ mode µs), so other work on a shared machine does not move it.
 */
export interface Target {
  mode: Exclude<Mode, "bare">;
  ratio: number;
}

/** The targets of the ingest issue. */
export const TARGETS: readonly Target[] = [
  { mode: "json", ratio: 0.5 },
  { mode: "avro", ratio: 0.8 },
];

// Above this share of one core the generator's single event loop, not the server, may set the pace.
const GENERATOR_SATURATED = 0.9;

// Above this, in cores, something else was running before the benchmark started.
const BUSY_BEFORE = 0.2;

const LABEL: Record<Mode, string> = {
  bare: "bare Fastify (JSON parse only)",
  json: "ingest, JSON body",
  avro: "ingest, Avro body",
};

const rate = (r: LoadResult) => r.accepted / r.seconds;
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (share: number | undefined) => (share === undefined ? "n/a" : `${Math.round(share * 100)}%`);
const ms = (n: number) => n.toFixed(1);
const problems = (r: LoadResult) =>
  Object.values(r.otherStatus).reduce((a, b) => a + b, 0) + r.partial + r.errors + r.timeouts;

function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  // Text left-aligned in the first column, numbers right-aligned in the others.
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "))
    .join("\n");
}

/** The results, ratios and verdicts, as printed and as written to the JSON file. */
export function summarize(settings: RunSettings, results: ModeResult[], background: number | undefined) {
  const bare = results.find((r) => r.mode === "bare");
  const bareRate = bare ? rate(bare.result) : Number.NaN;
  const modes = results.map(({ mode, result }) => ({
    mode,
    label: LABEL[mode],
    batchesPerSecond: rate(result),
    metricsPerSecond: rate(result) * METRICS_PER_BATCH,
    ratioToBare: rate(result) / bareRate,
    serverMicrosPerBatch:
      result.cpu.others.server === undefined ? undefined : (result.cpu.others.server / rate(result)) * 1e6,
    // The whole box's CPU per accepted batch: load generator, NATS, Redis and whatever else ran.
    boxMicrosPerBatch:
      result.cpu.machine === undefined ? undefined : (result.cpu.machine / rate(result)) * 1e6,
    ...result,
  }));
  const bareMicros = modes.find((m) => m.mode === "bare")?.serverMicrosPerBatch;
  const verdicts = TARGETS.map((t) => {
    const m = modes.find((x) => x.mode === t.mode);
    const measured = m?.serverMicrosPerBatch && bareMicros ? bareMicros / m.serverMicrosPerBatch : Number.NaN;
    return {
      ...t,
      measured,
      throughputRatio: m ? m.ratioToBare : Number.NaN,
      met: measured >= t.ratio,
      runHadProblems: m ? problems(m) > 0 : true,
    };
  });
  const warnings: string[] = [];
  if (background !== undefined && background > BUSY_BEFORE) {
    warnings.push(
      `other processes kept the machine ${pct(background)} busy before the run (idle ${pct(
        cpus().length - background,
      )}): the machine is not quiet, batches/s and latencies are lower than on a quiet one and the ` +
        "throughput ratios are not valid; the CPU-per-batch ratios hold better but are not a quiet run either",
    );
  }
  for (const m of modes) {
    const n = problems(m);
    if (n > 0) {
      const parts = [
        ...Object.entries(m.otherStatus).map(([s, c]) => `${c} × HTTP ${s}`),
        m.partial ? `${m.partial} × 202 accepting fewer than ${METRICS_PER_BATCH} metrics` : "",
        m.errors ? `${m.errors} connection errors` : "",
        m.timeouts ? `${m.timeouts} timeouts` : "",
      ].filter(Boolean);
      warnings.push(`${m.mode}: the run had ${int(n)} requests not fully accepted: ${parts.join(", ")}`);
    }
    if (m.cpu.steal !== undefined && m.cpu.steal > 0.05) {
      warnings.push(`${m.mode}: the hypervisor stole ${pct(m.cpu.steal)} of a core; numbers are noisier`);
    }
    if (m.cpu.generator > GENERATOR_SATURATED) {
      warnings.push(
        `${m.mode}: the load generator used ${pct(m.cpu.generator)} of a core and may have set the pace; ` +
          (m.mode === "bare"
            ? "the bare figure is then a floor and the ratios overstate the ingest"
            : "this figure is then a floor and its ratio understates the ingest"),
      );
    }
  }
  return {
    benchmark: "ingest",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", node: process.version },
    settings: { ...settings, metricsPerBatch: METRICS_PER_BATCH, pipelining: 1 },
    /** Cores the machine was busy with in the second before the first run. */
    background,
    modes,
    verdicts,
    warnings,
  };
}

/** The summary of a benchmark run. */
export type Summary = ReturnType<typeof summarize>;

/** The summary as text: the table, CPU shares, verdicts against the targets, and warnings. */
export function render(s: Summary): string {
  const watched = [...new Set(s.modes.flatMap((m) => Object.keys(m.cpu.others)))];
  // /proc counts in 10 ms ticks, so on a quiet machine the remainder can come out a little below zero.
  const rest = (c: CpuShare) =>
    c.machine === undefined
      ? undefined
      : Math.max(
          0,
          Object.values(c.others).reduce<number>((left, used) => left - (used ?? 0), c.machine - c.generator),
        );
  const header = ["mode", "batches/s", "metrics/s", "p50 ms", "p99 ms", "non-202", "× bare"];
  const cpuHeader = [
    "server µs/batch",
    "server µs/metric",
    "box µs/metric",
    "gen CPU",
    ...watched.map((w) => `${w} CPU`),
    "rest CPU",
    "box CPU",
  ];
  const rows = [
    [...header, ...cpuHeader],
    ...s.modes.map((m) => [
      m.label,
      int(m.batchesPerSecond),
      int(m.metricsPerSecond),
      ms(m.latencyMs.p50),
      ms(m.latencyMs.p99),
      int(problems(m)),
      `${m.ratioToBare.toFixed(2)}×`,
      m.serverMicrosPerBatch === undefined ? "n/a" : int(m.serverMicrosPerBatch),
      m.serverMicrosPerBatch === undefined ? "n/a" : (m.serverMicrosPerBatch / METRICS_PER_BATCH).toFixed(2),
      m.boxMicrosPerBatch === undefined ? "n/a" : (m.boxMicrosPerBatch / METRICS_PER_BATCH).toFixed(2),
      pct(m.cpu.generator),
      ...watched.map((w) => pct(m.cpu.others[w])),
      pct(rest(m.cpu)),
      `${pct(m.cpu.machine)} of ${s.machine.cpus * 100}%`,
    ]),
  ];
  const lines = [
    `ingest benchmark — ${s.settings.metricsPerBatch} metrics per batch, ${s.settings.connections} connections, ` +
      `${s.settings.warmupSeconds} s warm-up + ${s.settings.durationSeconds} s measured per mode, ` +
      `${s.settings.instances} instances, ${s.settings.nats} NATS, ${s.settings.processes} ingest process(es)` +
      `${s.settings.semiSpaceMb ? ` with ${s.settings.semiSpaceMb} MB semi-space` : ""}; ${s.machine.cpus} CPUs, node ${s.machine.node}; ` +
      `machine busy before the run: ${pct(s.background)} of ${s.machine.cpus * 100}% ` +
      `(idle ${pct(s.background === undefined ? undefined : s.machine.cpus - s.background)})`,
    "",
    table(rows),
    "",
    "batches/s counts 202 answers accepting every metric; non-202 also counts 202s accepting fewer,",
    "connection errors and timeouts. CPU columns are shares of one core over the measured run: gen = this",
    "load generator, server = the server measured, rest = everything else (kernel, other processes);",
    "server µs/batch = the server's CPU time per accepted batch; box µs/metric = the whole machine's CPU",
    "time per accepted metric (generator, NATS, Redis and other people's work included).",
    "The targets compare CPU per accepted batch with the bare handler's (the issue's measure); × bare above",
    "is the throughput ratio, which a busy machine distorts.",
    "",
    ...s.verdicts.map(
      (v) =>
        `ingest ${v.mode.toUpperCase()} vs bare Fastify ≥ ${v.ratio.toFixed(1)}× (CPU per batch): ` +
        `${v.met ? "met" : "NOT met"} (measured ${v.measured.toFixed(2)}×, throughput ${v.throughputRatio.toFixed(2)}×` +
        (v.met ? "" : `, ${Math.round((1 - v.measured / v.ratio) * 100)}% short`) +
        `)${v.runHadProblems ? " — the run had failed requests, see below" : ""}`,
    ),
  ];
  if (s.warnings.length) lines.push("", ...s.warnings.map((w) => `warning: ${w}`));
  return lines.join("\n");
}

/** Writes the summary as JSON under `<dataDir>/bench/` and returns the file's path. */
export function writeSummary(dataDir: string, s: Summary): string {
  const dir = join(dataDir, "bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ingest-${s.at.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(s, null, 2)}\n`);
  return file;
}

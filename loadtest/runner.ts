import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../lib/config/index.ts";
import { writeFleetFile } from "./prepare.ts";
import { ensureK6 } from "./tools/k6.ts";

/** The k6 scenarios under loadtest/scenarios, with the longest each may run (its bounds plus setup). */
export const SCENARIOS = {
  smoke: { maxSeconds: 60 + 60 },
  load: { maxSeconds: 600 + 60 },
  stress: { maxSeconds: 5 * 120 + 60 },
  spike: { maxSeconds: 300 + 35 + 60 },
  soak: { maxSeconds: 1800 + 60 },
  fleet: { maxSeconds: 1800 + 60 },
} as const;

/** A scenario's name. */
export type ScenarioName = keyof typeof SCENARIOS;

/** One k6 run. */
export interface RunOptions {
  scenario: ScenarioName;
  /** Ingest's base URL; must be loopback. */
  baseUrl: string;
  /** Where the JSON summary goes. */
  summaryFile: string;
  /** SM_RATE (requests/s) for arrival-rate scenarios, SM_DURATION_S, SM_INSTANCES, SM_PACE_S. */
  rate?: number;
  durationS?: number;
  instances?: number;
  paceS?: number;
  /** Extra thresholds, metric → expressions (e.g. an impossible one, to watch the run fail). */
  extraThresholds?: Record<string, string[]>;
  /** Seed of the simulated fleet whose batches are sent. */
  seed?: number;
  /** Where k6's output goes (the runner's stdout by default). */
  onOutput?: (chunk: string) => void;
}

/** How a k6 run ended. */
export interface RunResult {
  /** k6's exit code: 0 passed, 99 a threshold failed, other values errors. */
  exitCode: number;
  /** Every batch id of the run starts with `lt-<runId>-`. */
  runId: string;
  /** The summary k6 wrote (handleSummary's data), undefined when it wrote none. */
  summary: K6Summary | undefined;
  output: string;
}

/** The parts of k6's summary data read here. */
export interface K6Summary {
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
}

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/;

/** Whether a run's thresholds all held. */
export function failedThresholds(summary: K6Summary | undefined): string[] {
  const failed: string[] = [];
  for (const [name, m] of Object.entries(summary?.metrics ?? {})) {
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) if (!t.ok) failed.push(`${name} ${expr}`);
  }
  return failed;
}

/**
 * Runs one scenario with the project's k6 against a loopback ingest: writes the simulated fleet's bodies,
 * runs k6 (killed if it outlives the scenario's bound) and reads its JSON summary.
 */
export async function runScenario(opts: RunOptions): Promise<RunResult> {
  if (!(opts.scenario in SCENARIOS)) throw new Error(`unknown scenario ${opts.scenario}`);
  if (!LOOPBACK.test(opts.baseUrl)) throw new Error(`load runs only target loopback, not ${opts.baseUrl}`);
  const log = opts.onOutput ?? ((s: string) => process.stdout.write(s));
  const k6 = await ensureK6((line) => log(`${line}\n`));
  const seed = opts.seed ?? 20260106;
  const fleetFile = join(repoRoot, ".data", "loadtest", `fleet-${seed}.json`);
  writeFleetFile(fleetFile, { seed, instances: 120, days: 7, maxBodiesPerInstance: 40 });
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const env: Record<string, string> = {
    SM_SCENARIO: opts.scenario,
    SM_BASE_URL: opts.baseUrl,
    SM_FLEET_FILE: fleetFile,
    SM_SUMMARY_FILE: opts.summaryFile,
    SM_RUN_ID: runId,
  };
  if (opts.rate) env.SM_RATE = String(opts.rate);
  if (opts.durationS) env.SM_DURATION_S = String(opts.durationS);
  if (opts.instances) env.SM_INSTANCES = String(opts.instances);
  if (opts.paceS) env.SM_PACE_S = String(opts.paceS);
  if (opts.extraThresholds) env.SM_EXTRA_THRESHOLDS = JSON.stringify(opts.extraThresholds);
  const script = join(repoRoot, "loadtest", "scenarios", `${opts.scenario}.js`);
  // No usage report (nothing leaves the machine) and no REST API port (runs may overlap).
  const args = ["run", "--no-usage-report", "--address", "", "--quiet", script];
  rmSync(opts.summaryFile, { force: true });
  let output = "";
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(k6, args, {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const onData = (d: Buffer) => {
      output += d;
      log(d.toString());
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), SCENARIOS[opts.scenario].maxSeconds * 1000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  let summary: K6Summary | undefined;
  try {
    summary = JSON.parse(readFileSync(opts.summaryFile, "utf8")) as K6Summary;
  } catch {
    summary = undefined;
  }
  return { exitCode, runId, summary, output };
}

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";
import { TEST_ENV } from "./env.ts";

/** A processor process (processors/main.ts) on the test namespace, started by a test. */
export interface TestProcessor {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** Its /metrics text. */
  metrics: () => Promise<string>;
}

/** Starts a processor with `env` on top of the test settings and waits until /health/ready says 200. */
export async function startProcessor(env: Record<string, string> = {}): Promise<TestProcessor> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "processors/main.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...TEST_ENV,
      SMSTATS_PROCESSOR_PORT: String(port),
      SMSTATS_RETENTION_INTERVAL_MS: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`processor exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`processor not ready:\n${out}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok)
      return {
        child,
        port,
        output: () => out,
        metrics: () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()),
      };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a processor: SIGKILL by default (a crash), else the given signal; resolves once it exited. */
export function stopProcessor(p: TestProcessor, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.child.once("exit", () => resolve());
    p.child.kill(signal);
  });
}

/** A counter's value in Prometheus text, summed over the series whose labels contain every `labels` pair. */
export function counterValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

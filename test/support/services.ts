import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../lib/config/index.ts";
import { TEST_ENV } from "./env.ts";

/** `npm start` (without the stack step) running in its own process group, as a terminal would run it. */
export interface RunningService {
  child: ChildProcess;
  ingestUrl: string;
  processorPort: number;
  output: () => string;
  /** Sends a signal to the whole group, as Ctrl-C does, and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts scripts/start.ts on the test namespace with its own ports and waits until ingest is ready. */
export async function startService(ports: { ingest: number; processor: number }): Promise<RunningService> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(repoRoot, "scripts/start.ts"), "--no-stack"],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        ...TEST_ENV,
        SMSTATS_INGEST_PORT: String(ports.ingest),
        SMSTATS_PROCESSOR_PORT: String(ports.processor),
        // These suites post thousands of batches a minute from one instance on purpose.
        SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000",
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ingestUrl = `http://127.0.0.1:${ports.ingest}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`service not ready within 60 s:\n${out}`);
    const ready = await Promise.all(
      [ingestUrl, `http://127.0.0.1:${ports.processor}`].map((u) =>
        fetch(`${u}/health/ready`)
          .then((r) => r.ok)
          .catch(() => false),
      ),
    );
    if (ready.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    ingestUrl,
    processorPort: ports.processor,
    output: () => out,
    async stop(signal = "SIGINT") {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, signal);
      return exited;
    },
  };
}

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processTree } from "../../bench/pipeline/tree-cpu.ts";
import { processCount, workerExecArgv } from "../../ingest/processes.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
};

describe("ingest processes", () => {
  it("asks for one process per core with 0, and gives workers the semi-space flag once", () => {
    const config = (processes: string) => loadConfig({ ...process.env, SMSTATS_INGEST_PROCESSES: processes });
    expect(processCount(config("0"))).toBe(availableParallelism());
    expect(processCount(config("3"))).toBe(3);
    expect(workerExecArgv(["--import", "tsx", "--max-semi-space-size=8"], 64)).toEqual([
      "--import",
      "tsx",
      "--max-semi-space-size=64",
    ]);
    expect(workerExecArgv(["--import", "tsx"], 0)).toEqual(["--import", "tsx"]);
  });

  it("serves one port from two worker processes and stops them all on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "ingest/server.ts")], {
      cwd: repoRoot,
      env: {
        ...process.env,
        SMSTATS_INGEST_HOST: "127.0.0.1",
        SMSTATS_INGEST_PORT: String(port),
        SMSTATS_INGEST_PROCESSES: "2",
        SMSTATS_INGEST_SEMI_SPACE_MB: "32",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8_000);
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const pid = child.pid as number;
      const workers = () =>
        processTree(pid).filter((p) => p !== pid && cmdline(p).some((a) => a.endsWith("ingest/server.ts")));
      const deadline = Date.now() + 90_000;
      // Ready once both workers listen: each answers on its own, so ask until two distinct pids did.
      for (;;) {
        expect(Date.now() < deadline, `not ready in time:\n${stderr}`).toBe(true);
        const ok = await fetch(`http://127.0.0.1:${port}/health/ready`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.ok)
          .catch(() => false);
        if (ok && workers().length === 2) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      const pids = workers();
      expect(pids).toHaveLength(2);
      for (const w of pids) expect(cmdline(w)).toContain("--max-semi-space-size=32");
      // Fresh connections, each taken by whichever worker the kernel gives it to: all answered.
      const answers = await Promise.all(
        Array.from({ length: 40 }, () =>
          fetch(`http://127.0.0.1:${port}/health/live`, { headers: { connection: "close" } }).then(
            (r) => r.status,
          ),
        ),
      );
      expect(answers.every((s) => s === 200)).toBe(true);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const w of pids) expect(cmdline(w)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 120_000);
});

import { spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../lib/config/index.ts";
import { clusterUp } from "../../stack/cluster/index.ts";

// `npm run bench -- --cluster`: the same bench twice, one run after the other (never at once: they would
// share the two cores), on the single stack and on the cluster stack, and both tables side by side.

function runBench(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "bench/pipeline/main.ts"), ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("exit", (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Prints two texts as two columns, the left one padded to its longest line. */
export function columns(left: string, right: string, titles: [string, string]): string {
  const l = [titles[0], "=".repeat(titles[0].length), ...left.split("\n")];
  const r = [titles[1], "=".repeat(titles[1].length), ...right.split("\n")];
  const width = Math.max(...l.map((line) => line.length)) + 3;
  return Array.from(
    { length: Math.max(l.length, r.length) },
    (_, i) => `${(l[i] ?? "").padEnd(width)}${r[i] ?? ""}`,
  )
    .join("\n")
    .trimEnd();
}

/** Runs both benches and prints them side by side; resolves with the exit code. */
export async function sideBySide(duration: string, connections: string, instances: string): Promise<number> {
  const cluster = await clusterUp({ log: (line) => console.error(`· ${line}`) });
  const args = ["--duration", duration, "--connections", connections, "--instances", instances];
  console.error("== single-node stack ==");
  const single = await runBench(args, {});
  console.error("== cluster stack (3 NATS, 2 shards × 2 ClickHouse replicas) ==");
  const clustered = await runBench([...args, "--cluster-member"], { SMSTATS_DATA_DIR: cluster.paths.root });
  console.log(
    columns(single.out, clustered.out, [
      "single node (1 NATS, 1 ClickHouse)",
      "cluster (3 NATS R3, 2 shards x 2 replicas, sync Distributed inserts)",
    ]),
  );
  return single.code || clustered.code;
}

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";

/** A server the benchmark started, running in a child process of its own. */
export interface ChildServer {
  name: string;
  /** Where it listens, e.g. http://127.0.0.1:<port>. */
  url: string;
  /** ingest only: its /metrics listener, e.g. http://127.0.0.1:<port>/metrics. */
  metricsUrl?: string;
  pid: number;
  /** Its stdout and stderr so far (the last 64 KB), for error messages. */
  output(): string;
  /** SIGTERM (graceful), then SIGKILL after a grace period; resolves once it exited. */
  stop(): Promise<void>;
}

/** A started child server whose readiness is still being awaited. */
export interface SpawnedServer extends ChildServer {
  child: ChildProcess;
}

const OUTPUT_LIMIT = 64 * 1024;
// In start order, so stopAll can stop them in reverse: a server before what it depends on.
const running: SpawnedServer[] = [];

// A last resort for paths that skip stopAll (an uncaught error, process.exit elsewhere): no child may
// outlive the benchmark. Only our own children, by their handles.
process.on("exit", () => {
  for (const server of running) server.child.kill("SIGKILL");
});

/** Starts `command args` as a tracked child server, its output kept for error messages. */
export function spawnServer(
  name: string,
  url: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): SpawnedServer {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      const at = running.indexOf(server);
      if (at >= 0) running.splice(at, 1);
      resolve();
    }),
  );
  const server: SpawnedServer = {
    name,
    child,
    url,
    pid: child.pid,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      // The ingest drains in-flight publishes on SIGTERM (and writes its --cpu-prof then) within its
      // own 20 s bound; past that it is killed.
      const force = setTimeout(() => child.kill("SIGKILL"), 25_000);
      await exited;
      clearTimeout(force);
    },
  };
  running.push(server);
  return server;
}

/** Polls `ready` until it resolves true, failing when the child exits or the deadline passes. */
export async function waitUntil(
  server: SpawnedServer,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null)
      throw new Error(`${server.name} exited early (${server.child.exitCode}):\n${server.output()}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`${server.name} not ready within ${timeoutMs / 1000} s:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// `node --import tsx` rather than the tsx binary: the pid is then the server itself, with no wrapper
// process whose CPU time or signal handling would get in the way.
const tsNode = (script: string, nodeArgs: string[] = []) => [
  ...nodeArgs,
  "--import",
  "tsx",
  join(repoRoot, script),
];

/**
 * Starts the bare Fastify handler (bench/bare-server.ts) and waits for its first successful answer to
 * `probe`, a request like the ones it will be measured with.
 */
export async function startBareServer(probe: {
  headers: Record<string, string>;
  body: Buffer;
}): Promise<ChildServer> {
  const port = await freePort();
  const server = spawnServer("bare server", `http://127.0.0.1:${port}`, process.execPath, [
    ...tsNode("bench/bare-server.ts"),
    "--port",
    String(port),
  ]);
  await waitUntil(
    server,
    async () => {
      const res = await fetch(`${server.url}/v1/stats/batch`, {
        method: "POST",
        headers: probe.headers,
        body: probe.body,
        signal: AbortSignal.timeout(2_000),
      });
      return res.status === 202;
    },
    20_000,
  );
  return server;
}

/**
 * Starts the real ingest (ingest/server.ts) with the given SMSTATS_* variables on a free port and waits
 * for /health/ready. `cpuProfileDir` runs it under --cpu-prof (the profile is written when it stops).
 */
export async function startIngest(env: Record<string, string>, cpuProfileDir?: string): Promise<ChildServer> {
  const port = await freePort();
  const metricsPort = await freePort();
  const server = spawnServer(
    "ingest",
    `http://127.0.0.1:${port}`,
    process.execPath,
    tsNode("ingest/server.ts", cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfileDir] : []),
    {
      ...process.env,
      ...env,
      SMSTATS_INGEST_PORT: String(port),
      SMSTATS_INGEST_METRICS_HOST: "127.0.0.1",
      SMSTATS_INGEST_METRICS_PORT: String(metricsPort),
    },
  );
  server.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  await waitUntil(
    server,
    async () => (await fetch(`${server.url}/health/ready`, { signal: AbortSignal.timeout(2_000) })).ok,
    60_000,
  );
  return server;
}

/** Stops every server started here that still runs, the last started first. */
export async function stopAll(): Promise<void> {
  for (const server of [...running].reverse()) await server.stop();
}

import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../lib/config/index.ts";
import { ensureRoleLogins, migratePostgres } from "../../lib/migrate/index.ts";
import { stackStatus } from "../../stack/index.ts";
import { BENCH_ENV } from "./bench-env.ts";
import { type BodyFormat, createFleet } from "./bodies.ts";
import { startCpuMeter } from "./cpu.ts";
import { registerInstances } from "./instances.ts";
import { type LoadResult, runLoad } from "./load.ts";
import { type PrivateNats, startPrivateNats } from "./nats-server.ts";
import { deleteBenchKeys } from "./redis-keys.ts";
import { type ModeResult, render, summarize, writeSummary } from "./report.ts";
import { type ChildServer, startBareServer, startIngest, stopAll } from "./servers.ts";
import { type BenchStream, openBenchStream } from "./stream.ts";

// `npm run bench:ingest [-- --duration 10 --warmup 3 --connections 64 --instances 16 --cpu-prof
//   --private-nats]`
// Measures, in one run, accepted batches/s of the bare Fastify handler and of the real ingest with JSON
// and with Avro bodies, each server in a child process of its own, and prints the ratios to the bare one.

function intOption(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    instances: { type: "string", default: "16" },
    // Runs the ingest under --cpu-prof; the profile lands in .data/bench/profiles/ when it stops.
    "cpu-prof": { type: "boolean", default: false },
    // Publishes to a nats-server of the benchmark's own instead of the stack's (see nats-server.ts).
    "private-nats": { type: "boolean", default: false },
    // Ingest processes on the one port (SMSTATS_INGEST_PROCESSES); the server's CPU is their sum, so the
    // CPU per batch stays a per-process figure comparable with the bare handler's.
    processes: { type: "string", default: "1" },
    // Young-generation size of each ingest process, MB (SMSTATS_INGEST_SEMI_SPACE_MB; 0 = Node's default).
    "semi-space": { type: "string", default: "0" },
  },
});
// Bounded so that three modes with their warm-ups stay within about two minutes.
const settings = {
  durationSeconds: intOption(values.duration, "duration", 1, 30),
  warmupSeconds: intOption(values.warmup, "warmup", 0, 10),
  connections: intOption(values.connections, "connections", 1, 1024),
  instances: intOption(values.instances, "instances", 1, 256),
  processes: intOption(values.processes, "processes", 1, 64),
  semiSpaceMb: intOption(values["semi-space"], "semi-space", 0, 1024),
};

const config = loadConfig({ ...process.env, ...BENCH_ENV });
let nats: PrivateNats | undefined;
let ingest: ChildServer | undefined;
let bare: ChildServer | undefined;
let stream: BenchStream | undefined;
let cleaning: Promise<void> | undefined;
// Idempotent: reached from the normal end, from an error and from a signal, possibly more than once.
// In dependency order: nothing publishes while the stream is deleted, NATS goes last.
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await bare?.stop();
    await ingest?.stop();
    await stream?.remove().catch((err) => console.error(`could not delete the bench stream: ${err}`));
    await stream?.close().catch(() => {});
    if (ingest) {
      await deleteBenchKeys(config.redis.url, BENCH_ENV.SMSTATS_REDIS_KEY_PREFIX).catch((err) =>
        console.error(`could not delete the bench's Redis keys: ${err}`),
      );
    }
    await nats?.remove();
    await stopAll();
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const stack = await stackStatus({ dataDir: config.dataDir });
  if (!stack.allUp) throw new Error("the local stack is not up: run `npm run stack:up` first");
  const pidOf = (name: string) => stack.services.find((s) => s.name === name)?.pid;
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  // The ingest connects as the service's write role, whose login a fresh clone has not made yet.
  await ensureRoleLogins(config.postgres.url, config.dataDir);

  const benchDir = join(config.dataDir, "bench");
  if (values["private-nats"]) nats = await startPrivateNats(pidOf("nats") ?? -1, join(benchDir, "nats"));
  const natsServers = nats ? [nats.url] : config.nats.servers;
  const env: Record<string, string> = {
    ...BENCH_ENV,
    SMSTATS_NATS_URL: natsServers.join(","),
    SMSTATS_INGEST_PROCESSES: String(settings.processes),
    SMSTATS_INGEST_SEMI_SPACE_MB: String(settings.semiSpaceMb),
  };
  // Opened before the ingest creates the stream, so cleanup deletes it even if the ingest fails later.
  stream = await openBenchStream(natsServers, BENCH_ENV.SMSTATS_NATS_STREAM);
  const profileDir = values["cpu-prof"] ? join(benchDir, "profiles") : undefined;
  ingest = await startIngest(env, profileDir).catch((err: Error) => {
    if (/insufficient storage/.test(err.message)) {
      err.message +=
        "\nThe stack's JetStream store has no room for the bench stream: retry with --private-nats.";
    }
    throw err;
  });
  const instances = await registerInstances(ingest.url, settings.instances);
  const fleet = createFleet(instances);
  bare = await startBareServer(fleet.next("json"));

  const watch = { nats: nats?.pid ?? pidOf("nats"), redis: pidOf("redis") };
  const measure = async (server: ChildServer, format: BodyFormat, beforeEach: () => Promise<void>) => {
    const run = async (durationSeconds: number): Promise<LoadResult> => {
      await beforeEach();
      return runLoad({
        url: server.url,
        connections: settings.connections,
        durationSeconds,
        next: () => fleet.next(format),
        watch,
        watchTrees: { server: server.pid },
      });
    };
    // The warm-up lets V8 optimise the hot paths and opens the pools; its numbers are dropped.
    if (settings.warmupSeconds > 0) await run(settings.warmupSeconds);
    return run(settings.durationSeconds);
  };
  // No processor drains the bench stream: emptying it before each run keeps every run on the same,
  // empty stream, far from its byte cap.
  const purge = async () => stream?.purge();

  // What else keeps the machine busy, measured while every server here idles.
  const idle = startCpuMeter({});
  await new Promise((r) => setTimeout(r, 1_000));
  const background = idle().machine;

  const results: ModeResult[] = [];
  console.error("measuring the bare handler…");
  results.push({ mode: "bare", result: await measure(bare, "json", async () => {}) });
  await bare.stop();
  console.error("measuring the ingest with JSON bodies…");
  results.push({ mode: "json", result: await measure(ingest, "json", purge) });
  console.error("measuring the ingest with Avro bodies…");
  results.push({ mode: "avro", result: await measure(ingest, "avro", purge) });

  const summary = summarize({ ...settings, nats: nats ? "private" : "stack" }, results, background);
  console.log(render(summary));
  console.log(`\nresults: ${writeSummary(config.dataDir, summary)}`);
  await cleanup();
  if (profileDir) console.log(`ingest CPU profile: ${profileDir}`);
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  await cleanup();
  process.exit(1);
}

import { type ChildProcess, spawn } from "node:child_process";
import { loadConfig, repoRoot } from "../lib/config/index.ts";
import { createLogger } from "../lib/log/index.ts";
import { migrateAll } from "../lib/migrate/index.ts";
import { startSmtpSink } from "../mail/smtp-sink.ts";
import { clusterUp } from "../stack/cluster/index.ts";
import { stackUp } from "../stack/index.ts";
import { buildServers, bundlePath } from "./build-server.ts";
import { buildIsStale, buildWeb } from "./web-build.ts";

// `npm start`: ensures the local stack, migrates both stores, then runs ingest and processor as two
// processes (as they run in production). SIGINT/SIGTERM are passed to both; each finishes its
// in-flight work (requests and their publishes; fetched batches and their inserts and acks).
// `--cluster`: the cluster stack (three NATS servers, ZooKeeper, 2 × 2 ClickHouse replicas) instead of
// the single servers; its stack.json in <data>/cluster gives every connection setting not in the env.
const skipStack = process.argv.includes("--no-stack");
if (process.argv.includes("--cluster")) {
  const cluster = await clusterUp({ log: (line) => console.log(`· ${line}`) });
  process.env.SMSTATS_DATA_DIR ??= cluster.paths.root;
} else if (!skipStack) await stackUp();
const config = loadConfig();
const log = createLogger("start", config.logLevel);
await migrateAll(config, log);
// The console and portal pages ingest serves (web/), built when missing or older than their sources.
if (buildIsStale(config.web.distDir)) {
  const report = await buildWeb(config.web.distDir);
  log.info({ gzipBytes: report.admin?.gzipBytes }, "built the web console");
}

// Ingest and processor run as plain JavaScript bundles (no TypeScript loader in the serving processes),
// rebuilt from the sources at every start (about a second).
await buildServers();

// Development mail: unless an SMTP server is configured, a local sink on loopback takes every mail (keys,
// notices, digest) and logs who got what; nothing leaves the machine.
const env = { ...process.env };
const sink = process.env.SMSTATS_SMTP_URL ? undefined : await startSmtpSink();
if (sink) {
  env.SMSTATS_SMTP_URL = sink.url;
  log.info({ url: sink.url }, "development SMTP sink listening; mails are logged, not delivered");
  const seen = { n: 0 };
  setInterval(() => {
    for (const m of sink.messages.slice(seen.n))
      log.info(
        { to: [m.to ?? []].flat().map((a) => a.text), subject: m.subject },
        "mail received by the sink",
      );
    seen.n = sink.messages.length;
  }, 1000).unref();
}

const children = new Map<string, ChildProcess>();
for (const name of ["ingest", "processor"] as const) {
  const child = spawn(process.execPath, [bundlePath(name)], {
    cwd: repoRoot,
    stdio: "inherit",
    env,
  });
  children.set(name, child);
}

let stopping = false;
function stopAll(signal: NodeJS.Signals) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping ingest and processor");
  for (const child of children.values()) if (child.exitCode === null) child.kill("SIGTERM");
}
process.on("SIGINT", () => stopAll("SIGINT"));
process.on("SIGTERM", () => stopAll("SIGTERM"));

const codes = await Promise.all(
  [...children].map(
    ([name, child]) =>
      new Promise<number>((resolve) => {
        child.on("exit", (code, signal) => {
          if (!stopping) {
            log.error({ name, code, signal }, "a service exited unexpectedly; stopping the other");
            stopAll("SIGTERM");
          }
          resolve(code ?? 1);
        });
      }),
  ),
);
await sink?.close();
const failed = codes.some((c) => c !== 0);
log.info({ codes }, failed ? "stopped with errors" : "stopped");
process.exit(failed ? 1 : 0);

import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig, repoRoot } from "../lib/config/index.ts";
import { deadLetterStreamName } from "../lib/jetstream/index.ts";
import { freePort } from "../lib/net/index.ts";

/** Ingest + processor started by a load tool, in their own process group. */
export interface PipelineProcess {
  ingestUrl: string;
  /** ingest's /metrics (its own loopback listener), e.g. http://127.0.0.1:<port>/metrics. */
  ingestMetricsUrl: string;
  processorUrl: string;
  /** The loopback ports it listens on (chosen free ones when the caller gave none). */
  ports: { ingest: number; processor: number; ingestMetrics: number };
  child: ChildProcess;
  output(): string;
  /** Signals the group (SIGINT by default, as Ctrl-C): in-flight work drains; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Settings that give a load run its own databases, stream, consumer and Redis prefix on the shared local
 * stack (`ns` = "loadtest" → smstats_loadtest, TELEMETRY_LOADTEST, …), so it never mixes with `npm start`'s
 * data or the tests'.
 */
export function namespaceEnv(ns: string): Record<string, string> {
  return {
    SMSTATS_CLICKHOUSE_DATABASE: `smstats_${ns}`,
    SMSTATS_POSTGRES_DATABASE: `smstats_${ns}`,
    SMSTATS_NATS_STREAM: `TELEMETRY_${ns.toUpperCase()}`,
    SMSTATS_NATS_SUBJECT_PREFIX: `${ns}.telemetry`,
    SMSTATS_NATS_CONSUMER: `processor_${ns}`,
    SMSTATS_NATS_STREAM_MAX_BYTES: String(256 * 1024 * 1024),
    SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 * 1024),
    SMSTATS_REDIS_KEY_PREFIX: `smstats-${ns}:`,
  };
}

/**
 * Runs scripts/start.ts --no-stack (migrations, then ingest and processor) with the given settings on free
 * loopback ports, and waits until both are ready.
 *
 * A free port is the kernel's pick released just before the child binds it, so another process (often an
 * outgoing connection taking an ephemeral port) can take it in between. When a port the caller did not fix
 * is lost that way (the child exits with EADDRINUSE), it starts again on newly chosen ports, up to
 * `portAttempts` times. Ports the caller fixed are never changed: a collision there is the caller's error.
 */
export async function startPipeline(
  env: Record<string, string>,
  readyWithinMs = 90_000,
  /** Fixed ports (a restart on the same address); free ones when absent. */
  ports?: { ingest: number; processor: number; ingestMetrics?: number },
  {
    portAttempts = 3,
    choosePort = freePort,
  }: { portAttempts?: number; choosePort?: () => Promise<number> } = {},
): Promise<PipelineProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPipelineOnce(env, readyWithinMs, choosePort, ports);
    } catch (err) {
      const chosenByUs = !ports || ports.ingestMetrics === undefined;
      if (!(err instanceof PortTakenError) || !chosenByUs || attempt >= portAttempts) throw err;
    }
  }
}

/** The child could not bind a port: it was taken between freePort() and the child's listen(). */
export class PortTakenError extends Error {}

async function startPipelineOnce(
  env: Record<string, string>,
  readyWithinMs: number,
  choosePort: () => Promise<number>,
  ports?: { ingest: number; processor: number; ingestMetrics?: number },
): Promise<PipelineProcess> {
  const ingestPort = ports?.ingest ?? (await choosePort());
  const ingestMetricsPort = ports?.ingestMetrics ?? (await choosePort());
  const processorPort = ports?.processor ?? (await choosePort());
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(repoRoot, "scripts/start.ts"), "--no-stack"],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        SMSTATS_LOG_LEVEL: "warn",
        ...env,
        SMSTATS_INGEST_HOST: "127.0.0.1",
        SMSTATS_PROCESSOR_HOST: "127.0.0.1",
        SMSTATS_INGEST_PORT: String(ingestPort),
        SMSTATS_INGEST_METRICS_HOST: "127.0.0.1",
        SMSTATS_INGEST_METRICS_PORT: String(ingestMetricsPort),
        SMSTATS_PROCESSOR_PORT: String(processorPort),
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d).slice(-64_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const processorUrl = `http://127.0.0.1:${processorPort}`;
  const stop = async (signal: NodeJS.Signals = "SIGINT") => {
    if (child.exitCode === null && child.pid) process.kill(-child.pid, signal);
    return exited;
  };
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    if (child.exitCode !== null) {
      // start.ts stops its children when one fails; make sure none outlives it before a retry.
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is already gone
      }
      const message = `ingest/processor exited early (${child.exitCode}):\n${out}`;
      throw out.includes("EADDRINUSE") ? new PortTakenError(message) : new Error(message);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ingest/processor not ready within ${readyWithinMs} ms:\n${out}`);
    }
    const ready = await Promise.all(
      [ingestUrl, processorUrl].map((u) =>
        // Bounded: whatever holds a port that is not ours yet may accept and never answer.
        fetch(`${u}/health/ready`, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.ok)
          .catch(() => false),
      ),
    );
    if (ready.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const ingestMetricsUrl = `http://127.0.0.1:${ingestMetricsPort}/metrics`;
  return {
    ingestUrl,
    ingestMetricsUrl,
    processorUrl,
    ports: { ingest: ingestPort, processor: processorPort, ingestMetrics: ingestMetricsPort },
    child,
    output: () => out,
    stop,
  };
}

/**
 * Deletes a namespace's stream and its dead-letter stream once a run is over: each reserves its max_bytes
 * in the shared JetStream store, and a load run's data is not worth keeping there.
 */
export async function removeNamespaceStreams(env: Record<string, string>): Promise<void> {
  const config = loadConfig({ ...process.env, ...env });
  const nc = await connect({ servers: config.nats.servers, name: "smstats-loadtest-cleanup" });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of [config.nats.stream, deadLetterStreamName(config.nats)]) {
      await jsm.streams.delete(name).catch((err) => {
        if (!(err instanceof JetStreamApiError && err.status === 404)) throw err;
      });
    }
  } finally {
    await nc.close();
  }
}

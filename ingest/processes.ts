import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import type { Config } from "../lib/config/index.ts";
import type { Logger } from "../lib/log/index.ts";

/** How many ingest processes a configuration asks for (0 = one per core). */
export function processCount(config: Readonly<Config>): number {
  return config.ingest.processes === 0 ? availableParallelism() : config.ingest.processes;
}

/** Whether this process should fork ingest workers instead of serving itself. */
export function runsAsPrimary(config: Readonly<Config>): boolean {
  return cluster.isPrimary && (processCount(config) > 1 || config.ingest.semiSpaceMb > 0);
}

/** Node flags of each worker: the primary's own, plus the configured young-generation size. */
export function workerExecArgv(parentArgv: readonly string[], semiSpaceMb: number): string[] {
  const own = parentArgv.filter((a) => !a.startsWith("--max-semi-space-size"));
  return semiSpaceMb > 0 ? [...own, `--max-semi-space-size=${semiSpaceMb}`] : own;
}

/**
 * Runs the ingest as a primary that forks `processCount` workers onto the one port and does no request
 * work itself. Workers share the listening socket and take connections from the kernel directly
 * (SCHED_NONE: no hand-off through the primary, whose CPU would otherwise grow with the load), so each
 * worker's CPU per request is what a single process spends. A worker that dies unasked is replaced; on
 * SIGINT/SIGTERM every worker drains (server.ts's shutdown) and the primary exits when all have.
 */
export function runPrimary(config: Readonly<Config>, log: Logger): void {
  const count = processCount(config);
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, config.ingest.semiSpaceMb) });
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < count; i++) fork();
  log.info(
    { processes: count, semiSpaceMb: config.ingest.semiSpaceMb },
    "ingest primary started its workers",
  );
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, "ingest worker exited; starting another");
    // A worker failing at start (bad config, store down) would be restarted at once, forever: wait a bit.
    setTimeout(fork, 1_000).unref();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "ingest primary stopping its workers");
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

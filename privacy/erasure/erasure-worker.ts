import { hostname } from "node:os";
import type { SecretBox } from "../../licensing/index.ts";
import { createErasureJobStore, type ErasureJobStore } from "./job-store.ts";
import { type ErasureDeps, LeaseLost, runErasure } from "./run-erasure.ts";
import { redactSubject } from "./subject.ts";

/** Runs erasure jobs in the background of a process: new ones, and ones a dead process left running. */
export interface ErasureWorker {
  /** Starts polling (every settings.pollMs). */
  start(): void;
  /** Looks for work now (after a request created a job). */
  wake(): void;
  /** Runs one job to its end in the caller's time (the CLI); false when another process holds it. */
  runNow(jobId: string): Promise<boolean>;
  /** Stops polling; the job in progress stops after its current step and is left for another process. */
  stop(): Promise<void>;
}

/** The erasure worker of one process; `role` names it in the job's lease ("ingest", "cli"). */
export function createErasureWorker(deps: ErasureDeps, box: SecretBox, role: string): ErasureWorker {
  const owner = `${role}:${hostname()}:${process.pid}`;
  const store: ErasureJobStore = createErasureJobStore(deps.pg, box, owner, deps.settings.leaseMs);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function runClaimed(jobId?: string): Promise<boolean> {
    const job = await store.claim(jobId);
    if (!job) return false;
    try {
      await runErasure(deps, store, job, () => stopped);
    } catch (err) {
      if (err instanceof LeaseLost) return true;
      const message = redactSubject((err as Error)?.message ?? String(err), job.subject);
      deps.log.warn({ job: job.id, error: message }, "erasure step failed; the job will be retried");
      await store.release(job.id, message, deps.settings.pollMs).catch(() => undefined);
      throw new Error(message);
    }
    return true;
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      try {
        while (!stopped && (await runClaimed())) {}
      } catch {
        // Logged by runClaimed; the job's lease time is its retry delay.
      }
    } while (again && !stopped);
  }

  const tick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain().finally(() => {
      running = undefined;
    });
  };

  return {
    start() {
      timer = setInterval(tick, deps.settings.pollMs);
      timer.unref();
      tick();
    },
    wake: tick,
    runNow: (jobId) => runClaimed(jobId),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

import type { JetStreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type pg from "pg";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import { eraseClickHouse } from "./erase-clickhouse.ts";
import { eraseJetStream } from "./erase-jetstream.ts";
import { erasePostgres } from "./erase-postgres.ts";
import { eraseRedis } from "./erase-redis.ts";
import { type ClaimedJob, ERASURE_STEPS, type ErasureJobStore, type ErasureStep } from "./job-store.ts";
import type { ErasureSubject } from "./subject.ts";

/** What an erasure job talks to. */
export interface ErasureDeps {
  pg: pg.Pool;
  redis: Redis;
  redisPrefix: string;
  jsm: JetStreamManager;
  nats: Config["nats"];
  clickhouse: ClickHouseExecutor;
  /**
   * Cluster mode: the cluster's name and its servers (URLs of every replica of every shard, config's
   * clickhouse.shards); the ClickHouse step opens an executor per server for the time of the step.
   */
  clickhouseCluster?: {
    name: string;
    servers: readonly string[];
    connect: (url: string) => ClickHouseExecutor;
  };
  log: Logger;
  settings: Config["erasure"];
  /**
   * How long (ms) an ingest process may still accept a batch from the instance after its PostgreSQL rows
   * are gone (its identity cache time plus a publish): the job waits this long before the stores such a
   * batch would reach (Redis counters, the stream, ClickHouse).
   */
  settleMs: number;
  /** Forgets cached state of the instance in this process (its identity). */
  forget?: (instanceId: string) => void;
}

/** ErasureDeps.clickhouseCluster from the configuration: undefined on one server. */
export function clickHouseClusterOf(config: Config["clickhouse"]): ErasureDeps["clickhouseCluster"] {
  if (!config.cluster) return undefined;
  return {
    name: config.cluster,
    servers: config.shards.flat(),
    connect: (url) => serverExecutor({ ...config, url }),
  };
}

type StepRun = (d: ErasureDeps, s: ErasureSubject) => Promise<Record<string, number>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The order matters: PostgreSQL first, so the instance's credentials stop working (no new batches once
// ingest's identity caches expire); then, after that time, Redis (counters those batches wrote), the
// stream (batches queued but not processed, dead letters), and ClickHouse last, after batches a
// processor held in flight have landed, so its rows are deleted too. Every step is idempotent: a job
// resumed after a crash repeats the interrupted step from its start.
const RUN: Record<ErasureStep, StepRun> = {
  async postgres(d, s) {
    const removed = await erasePostgres(d.pg, s);
    d.forget?.(s.instanceId);
    return removed;
  },
  async redis(d, s) {
    await sleep(d.settleMs);
    return eraseRedis(d.redis, d.redisPrefix, s);
  },
  jetstream: (d, s) => eraseJetStream(d.jsm, d.nats, s),
  async clickhouse(d, s) {
    await sleep(d.settleMs);
    const c = d.clickhouseCluster?.name ? d.clickhouseCluster : undefined;
    const servers = c ? c.servers.map((url) => c.connect(url)) : [];
    try {
      return await eraseClickHouse(d.clickhouse, s, {
        mutationTimeoutMs: d.settings.mutationTimeoutMs,
        cluster: c ? { name: c.name, servers } : undefined,
      });
    } finally {
      await Promise.allSettled(servers.map((server) => server.close()));
    }
  },
};

/** Thrown when another process took the job over (this one's lease ran out): it stops quietly. */
export class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

/**
 * Runs a claimed job from the step after the last one recorded to the end, recording each step as it
 * finishes and renewing the lease meanwhile; marks the job done and forgets its subject.
 */
export async function runErasure(
  d: ErasureDeps,
  store: ErasureJobStore,
  job: ClaimedJob,
  /** True when the process is shutting down: the job stops between steps, for another process to resume. */
  stopping: () => boolean = () => false,
): Promise<void> {
  let lost = false;
  const renew = setInterval(
    () => {
      store
        .renew(job.id)
        .then((ok) => {
          if (!ok) lost = true;
        })
        .catch((err) => d.log.warn({ err, job: job.id }, "renewing an erasure job's lease failed"));
    },
    Math.max(50, Math.floor(d.settings.leaseMs / 3)),
  );
  try {
    const from = job.step === "" ? 0 : ERASURE_STEPS.indexOf(job.step) + 1;
    for (const step of ERASURE_STEPS.slice(from)) {
      if (d.settings.stepPauseMs > 0) await sleep(d.settings.stepPauseMs);
      if (lost) throw new LeaseLost(`erasure job ${job.id} was taken over`);
      if (stopping()) {
        await store.release(job.id, "", 0);
        d.log.info({ job: job.id, next: step }, "erasure paused for shutdown; another process resumes it");
        return;
      }
      const removed = await RUN[step](d, job.subject);
      if (!(await store.advance(job.id, step, removed)))
        throw new LeaseLost(`erasure job ${job.id} was taken over`);
      d.log.info({ job: job.id, step }, "erasure step done");
    }
    await store.finish(job.id);
    d.log.info({ job: job.id }, "erasure done");
  } finally {
    clearInterval(renew);
  }
}

import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { serverExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import { clickHouseClusterOf, createErasureWorker, type ErasureWorker } from "../../privacy/index.ts";
import type { IngestDeps } from "../deps.ts";

/**
 * The erasure worker of an ingest process. Every ingest process runs one: it starts the jobs its own
 * routes create at once, and every erasure.pollMs claims any job that is pending or whose lease ran out
 * (its process died), so a job interrupted by a crash or restart is finished by whichever ingest process
 * runs next. Ingest, not the processors, because it already holds every store the job touches and the
 * requests that create jobs.
 */
export function createIngestErasureWorker(config: Readonly<Config>, deps: IngestDeps): ErasureWorker {
  return createErasureWorker(
    {
      pg: deps.pg,
      redis: deps.redis,
      redisPrefix: config.redis.keyPrefix,
      jsm: deps.jsm,
      nats: config.nats,
      clickhouse: serverExecutor(config.clickhouse, deps.clickhouse),
      clickhouseCluster: clickHouseClusterOf(config.clickhouse),
      log: deps.log,
      settings: config.erasure,
      settleMs: config.ingest.identityCacheMs + 1000,
      forget: (id) => deps.identities.forget(id),
    },
    deps.box,
    "ingest",
  );
}

/** Starts the worker once the app is ready and stops it when the app closes. */
async function erasureJobs(app: FastifyInstance, { worker }: { worker: ErasureWorker }) {
  app.addHook("onReady", async () => worker.start());
  app.addHook("onClose", async () => worker.stop());
}

/** The erasure worker as a plugin. */
export default fp(erasureJobs, { name: "smstats-erasure-jobs" });

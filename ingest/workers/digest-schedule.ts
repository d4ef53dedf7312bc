import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { readPipelineHealth, scheduleDigest } from "../../digest/index.ts";
import { serverExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import type { IngestDeps } from "../deps.ts";

/** Options of the digest schedule. */
export interface DigestScheduleOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
}

/** The weekly admin digest, when a schedule and recipients are configured. */
async function digestSchedule(app: FastifyInstance, { config, deps }: DigestScheduleOptions) {
  if (!config.digest.cron || config.digest.to.length === 0) return;
  const ch = serverExecutor(config.clickhouse);
  let digest: { stop(): void } | undefined;
  app.addHook("onReady", async () => {
    digest = scheduleDigest({
      cron: config.digest.cron,
      to: config.digest.to,
      pool: deps.pg,
      mailer: deps.mailer,
      log: deps.log,
      sources: () => ({
        ch,
        pg: deps.pg,
        pipeline: () => readPipelineHealth(deps.jsm, deps.redis, config),
      }),
    });
  });
  app.addHook("onClose", async () => {
    digest?.stop();
    await ch.close();
  });
}

/** The digest schedule as a plugin. */
export default fp(digestSchedule, { name: "smstats-digest-schedule" });

import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, createClickHouseClient, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { loadSecretBox } from "../../licensing/index.ts";
import { loadPiiVault } from "../../licensing/keys/pii-vault.ts";
import {
  clickHouseClusterOf,
  createErasureWorker,
  type ErasureStatus,
  erasureStatus,
  requestErasure,
} from "../../privacy/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";

/**
 * `smstats instance erase <id>`: records the erasure (audited as the operator) and, unless --no-wait, runs
 * the job here to its end (or, when an ingest process already holds it, follows it until done). A job
 * this command leaves unfinished (Ctrl-C, a crash) is resumed by an ingest process once its lease ends.
 */
export async function erase(id: string, values: { "no-wait": boolean; json: boolean; as?: string }) {
  const config = loadConfig();
  const ctx = await openLicensingContext(values.as);
  const log = createLogger("cli", config.logLevel);
  const nats = await connectNats(config.nats.servers, "smstats-cli", log);
  const client = createClickHouseClient(config.clickhouse);
  try {
    const box = await loadSecretBox(config.dataDir);
    const vault = await loadPiiVault(config.dataDir, box);
    const { job } = await requestErasure(ctx.pool, vault, { instanceId: id, actor: ctx.actor, via: "cli" });
    if (values["no-wait"] || job.status === "done") return show(job, values.json);
    const worker = createErasureWorker(
      {
        pg: ctx.pool,
        redis: ctx.redis,
        redisPrefix: config.redis.keyPrefix,
        jsm: await jetstreamManager(nats.nc),
        nats: config.nats,
        clickhouse: serverExecutor(config.clickhouse, client),
        clickhouseCluster: clickHouseClusterOf(config.clickhouse),
        log,
        settings: config.erasure,
        settleMs: config.ingest.identityCacheMs + 1000,
      },
      box,
      "cli",
    );
    await worker.runNow(job.job_id);
    for (;;) {
      const now = (await erasureStatus(ctx.pool, job.job_id)) as ErasureStatus;
      if (now.status === "done") return show(now, values.json);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await Promise.allSettled([ctx.close(), nats.nc.close(), client.close()]);
  }
}

function show(job: ErasureStatus, json: boolean) {
  if (json) return print(job, true);
  console.log(`erasure ${job.job_id}: ${job.status}${job.step ? ` (last step ${job.step})` : ""}`);
  for (const [what, n] of Object.entries(job.removed)) console.log(`  ${what.padEnd(40)} ${n}`);
}

import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { buildDigest, readPipelineHealth } from "../../digest/index.ts";
import { connectNats, connectRedis, createPgPool, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, requirePostgresRole } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { createMailer } from "../../mail/index.ts";
import { requireCommand, UsageError } from "../usage.ts";

export const usage = `  smstats digest send [--dry-run] [--to ADDRESS …] [--at ISO]   the weekly admin digest (default: SMSTATS_DIGEST_TO)`;

/** `smstats digest send`: builds the weekly digest from the rollups and mails it (or prints it with --dry-run). */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      "dry-run": { type: "boolean", default: false },
      to: { type: "string", multiple: true },
      at: { type: "string" },
    },
    strict: true,
  });
  requireCommand("digest", command, ["send"]);
  const config = loadConfig();
  const to = values.to?.length ? values.to : [...config.digest.to];
  if (to.length === 0 && !values["dry-run"])
    throw new UsageError(`no recipients: --to or SMSTATS_DIGEST_TO\n${usage}`);
  const at = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(at.getTime())) throw new UsageError("--at is not a date");
  const log = createLogger("smstats-digest", "warn");
  const ch = serverExecutor(config.clickhouse);
  const pool = createPgPool(requirePostgresRole(config, "read"), "smstats-digest", 2, config.postgres.tls);
  const redis = await connectRedis(config.redis.url, "smstats-digest", config.redis.tls);
  const nats = await connectNats(config.nats.servers, "smstats-digest", log, config.nats.tls);
  try {
    const jsm = await jetstreamManager(nats.nc);
    const { mail, figures } = await buildDigest(
      { ch, pg: pool, pipeline: () => readPipelineHealth(jsm, redis, config) },
      at,
      to,
    );
    if (values["dry-run"]) {
      console.log(`To: ${to.join(", ") || "(nobody)"}\nSubject: ${mail.subject}\n\n${mail.text}`);
      console.log(`(chart: ${mail.inline?.[0]?.content.length ?? 0} bytes PNG; not sent: --dry-run)`);
      return;
    }
    const mailer = createMailer(config.mail);
    try {
      await mailer.send("digest", mail);
    } finally {
      mailer.close();
    }
    console.log(`digest for ${figures.week.from.toISOString().slice(0, 10)} sent to ${to.join(", ")}`);
  } finally {
    await Promise.allSettled([ch.close(), pool.end(), redis.quit(), nats.nc.close()]);
  }
}

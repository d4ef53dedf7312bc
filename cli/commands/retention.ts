import { parseArgs } from "node:util";
import { createPgPool, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, requirePostgresRole } from "../../lib/config/index.ts";
import { runPostgresRetention, runRetention } from "../../processors/retention/index.ts";
import { requireCommand, UsageError } from "../usage.ts";

export const usage = "  smstats retention run [--dry-run] [--now <ISO time>] [--json]";

/**
 * `smstats retention run`: every store's retention (SMSTATS_RETENTION_*): ClickHouse raw and rollup
 * partitions past their days, then PostgreSQL leases, refresh tokens, abuse flags, the audit log and the
 * activations' sealed addresses. --dry-run lists what would go, per store and table, and changes nothing.
 */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      "dry-run": { type: "boolean", default: false },
      now: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("retention", command, ["run"]);
  const now = values.now === undefined ? Date.now() : Date.parse(values.now);
  if (Number.isNaN(now)) throw new UsageError(`--now: not a time: ${values.now}`);
  const config = loadConfig();
  const dryRun = values["dry-run"];
  const ch = serverExecutor(config.clickhouse);
  const pool = createPgPool(requirePostgresRole(config, "write"), "smstats-cli", 1);
  try {
    const report = await runRetention(ch, config.retention, { now, dryRun });
    const postgres = await runPostgresRetention(pool, config.retention.postgres, { now, dryRun });
    if (values.json) {
      console.log(JSON.stringify({ ...report, postgres }, null, 2));
      return;
    }
    const verb = report.dryRun ? "would drop" : "dropped";
    for (const d of report.dropped) {
      console.log(
        `clickhouse\t${verb}\t${d.table}\t${d.partition}\t${d.rows} rows\tends ${d.endsAt} <= cutoff ${d.cutoff}`,
      );
    }
    for (const u of report.unknown)
      console.log(`clickhouse\tleft (unreadable partition)\t${u.table}\t${u.partition}`);
    console.log(`clickhouse\t${verb} ${report.dropped.length} partition(s), kept ${report.kept}`);
    for (const p of postgres) {
      const what = p.action === "purge_address" ? "addresses" : "rows";
      const done = dryRun
        ? `would ${p.action === "delete" ? "delete" : "purge"}`
        : p.action === "delete"
          ? "deleted"
          : "purged";
      console.log(`postgres\t${done}\t${p.table}\t${p.rows} ${what}\tolder than ${p.cutoff}`);
    }
  } finally {
    await Promise.allSettled([ch.close(), pool.end()]);
  }
}

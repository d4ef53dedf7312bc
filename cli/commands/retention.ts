import { parseArgs } from "node:util";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { runRetention } from "../../processors/retention/index.ts";
import { requireCommand, UsageError } from "../usage.ts";

export const usage = "  smstats retention run [--dry-run] [--now <ISO time>] [--json]";

/** `smstats retention run`: drops raw and rollup partitions past their retention (SMSTATS_RETENTION_*). */
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
  const ch = serverExecutor(config.clickhouse);
  try {
    const report = await runRetention(ch, config.retention, { now, dryRun: values["dry-run"] });
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const verb = report.dryRun ? "would drop" : "dropped";
    for (const d of report.dropped) {
      console.log(
        `${verb}\t${d.table}\t${d.partition}\t${d.rows} rows\tends ${d.endsAt} <= cutoff ${d.cutoff}`,
      );
    }
    for (const u of report.unknown) console.log(`left (unreadable partition)\t${u.table}\t${u.partition}`);
    console.log(`${verb} ${report.dropped.length} partition(s), kept ${report.kept}`);
  } finally {
    await ch.close();
  }
}

import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { reconcileTelemetryStream } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { loadSecretBox } from "../../licensing/keys/index.ts";
import { listDeadLetters, replayDeadLetters } from "../../processors/dlq/index.ts";
import { requireCommand, UsageError } from "../usage.ts";

export const usage = `  smstats dlq list [--limit N] [--json]
  smstats dlq replay (--seq N [--seq N …] | --all) [--max-replays 3] [--force]`;

/** `smstats dlq …`: list and replay dead letters. */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      limit: { type: "string", default: "100" },
      json: { type: "boolean", default: false },
      seq: { type: "string", multiple: true },
      all: { type: "boolean", default: false },
      "max-replays": { type: "string", default: "3" },
      force: { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("dlq", command, ["list", "replay"]);
  if (command === "replay" && !values.all && !values.seq?.length)
    throw new UsageError("`smstats dlq replay` needs --seq N or --all", "ARGUMENT_MISSING");
  const config = loadConfig();
  const log = createLogger("smstats", "warn");
  const nats = await connectNats(config.nats.servers, "smstats-cli", log, config.nats.tls);
  try {
    const jsm = await jetstreamManager(nats.nc);
    await reconcileTelemetryStream(jsm, config, log);
    if (command === "list") {
      const box = await loadSecretBox(config.dataDir);
      const letters = await listDeadLetters(jsm, config.nats, Number(values.limit), box);
      if (values.json) console.log(JSON.stringify(letters, null, 2));
      else if (letters.length === 0) console.log("no dead letters");
      else
        for (const d of letters)
          console.log(`${d.seq}\t${d.at}\t${d.reason}\treplays=${d.replays}\t${d.bytes} B\t${d.detail}`);
    } else {
      const report = await replayDeadLetters(jsm, jetstream(nats.nc), config.nats, {
        seqs: values.all ? undefined : values.seq?.map(Number),
        maxReplays: Number(values["max-replays"]),
        force: values.force,
        box: await loadSecretBox(config.dataDir),
      });
      console.log(`replayed ${report.replayed.length}: ${report.replayed.join(" ") || "-"}`);
      for (const r of report.refused) {
        console.log(`refused ${r.seq}: replayed ${r.replays} times already; fix the cause or use --force`);
      }
    }
  } finally {
    await nats.nc.close();
  }
}

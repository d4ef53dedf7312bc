import { parseArgs } from "node:util";
import { clusterDown, clusterStatus, clusterUp } from "./cluster/index.ts";
import { stackDown } from "./down.ts";
import { StackError } from "./errors.ts";
import { formatDown, formatStatus, formatUp } from "./format.ts";
import { stackStatus } from "./status.ts";
import { stackUp } from "./up.ts";

/** Exit code of `status` when not all four servers are up. */
const EXIT_NOT_ALL_UP = 3;
const usage = "usage: tsx stack/cli.ts up | down | status [--json] [--cluster]";

// `--cluster`: the cluster stack beside the single one (stack/cluster); down stops only the cluster's nodes.
async function clusterCommand(command: string | undefined, log: (line: string) => void): Promise<number> {
  switch (command) {
    case "up": {
      const handle = await clusterUp({ log });
      console.log(`cluster up; SMSTATS_DATA_DIR=${handle.paths.root} uses it`);
      for (const n of clusterStatus()) console.log(`  ${n.name.padEnd(18)} pid ${n.pid}`);
      return 0;
    }
    case "down":
      for (const n of await clusterDown({ log })) console.log(`  ${n.name.padEnd(18)} ${n.action}`);
      return 0;
    case "status": {
      const status = clusterStatus();
      for (const n of status)
        console.log(`  ${n.name.padEnd(18)} ${n.pid === undefined ? "down" : `pid ${n.pid}`}`);
      return status.every((n) => n.pid !== undefined) ? 0 : EXIT_NOT_ALL_UP;
    }
    default:
      throw new StackError("STACK_USAGE", usage);
  }
}

function print(lines: readonly string[]): void {
  for (const line of lines) console.log(line);
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      cluster: { type: "boolean", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (rest.length > 0) throw new StackError("STACK_USAGE", usage);
  const log = (line: string) => console.log(`· ${line}`);
  if (values.cluster) return clusterCommand(command, log);
  switch (command) {
    case "up":
      print(formatUp(await stackUp({ log })));
      return 0;
    case "down":
      print(formatDown(await stackDown({ log })));
      return 0;
    case "status": {
      const status = await stackStatus();
      if (values.json) console.log(JSON.stringify(status, null, 2));
      else print(formatStatus(status));
      return status.allUp ? 0 : EXIT_NOT_ALL_UP;
    }
    default:
      throw new StackError("STACK_USAGE", usage);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof StackError) {
    console.error(`error ${err.code}: ${err.message}`);
    process.exitCode = err.code === "STACK_USAGE" ? 2 : 1;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}

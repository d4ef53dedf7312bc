import { debuglog } from "node:util";
import { describeFailure, EXIT_CODES_HELP, failureLine } from "./errors.ts";
import { helpFor } from "./help.ts";

// smstats: the operator's command line. Each area is a module in ./commands exporting `usage` and
// `run(argv)`; add an area by adding a module and a line below. `--help` (or `-h`) anywhere answers with
// the usage of the deepest command named; failures print one line (code, reason, what to do) and exit
// with the codes in ./errors.ts.
const AREAS: Record<string, () => Promise<{ usage: string; run(argv: string[]): Promise<void> }>> = {
  dlq: () => import("./commands/dlq.ts"),
  license: () => import("./commands/license.ts"),
  instance: () => import("./commands/instance.ts"),
  admin: () => import("./commands/admin.ts"),
  retention: () => import("./commands/retention.ts"),
  demo: () => import("./commands/demo.ts"),
  webhooks: () => import("./commands/webhooks.ts"),
  digest: () => import("./commands/digest.ts"),
  payments: () => import("./commands/payments.ts"),
};

async function usage(): Promise<string> {
  const parts = await Promise.all(Object.values(AREAS).map(async (load) => (await load()).usage));
  return `usage: smstats <area> <command> [options]   (every command answers --help)\n${parts.join("\n")}\n${EXIT_CODES_HELP}`;
}

const debug = debuglog("smstats");
const argv = process.argv.slice(2);
const wantsHelp = argv.includes("--help") || argv.includes("-h");
const [area, ...rest] = argv;
const load = area ? AREAS[area] : undefined;
if (!load) {
  if (wantsHelp || area === "help") {
    console.log(await usage());
    process.exit(0);
  }
  console.error(
    failureLine({
      code: area ? "COMMAND_UNKNOWN" : "ARGUMENT_MISSING",
      message: area ? `no area \`${area}\`` : "no area given",
      hint: `areas: ${Object.keys(AREAS).join(", ")}; see \`smstats --help\``,
      exit: 2,
    }),
  );
  process.exit(2);
}
const mod = await load();
const firstOption = rest.findIndex((a) => a.startsWith("-"));
const words = [area as string, ...(firstOption < 0 ? rest : rest.slice(0, firstOption))];
if (wantsHelp) {
  console.log(`${helpFor(mod.usage, words)}\n${EXIT_CODES_HELP}`);
  process.exit(0);
}
try {
  await mod.run(rest);
} catch (err) {
  debug("%o", err);
  const failure = describeFailure(err, helpFor.commandOf(mod.usage, words));
  console.error(failureLine(failure));
  process.exit(failure.exit);
}

import { parseArgs } from "node:util";
import { banInstanceByAdmin, showInstance, unbanInstanceByAdmin } from "../../licensing/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { UsageError } from "../usage.ts";

export const usage = `  smstats instance ban <instance id> --reason TEXT [--fingerprint] [--json]
  smstats instance unban <instance id> --reason TEXT [--json]
  smstats instance show <instance id> [--json]`;

/** `smstats instance …`: ban, unban and show instances (every change audited). */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      reason: { type: "string" },
      fingerprint: { type: "boolean", default: false },
      as: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const id = positionals[0];
  if (!["ban", "unban", "show"].includes(command ?? "") || !id) throw new UsageError(usage);
  if (command !== "show" && !values.reason) throw new UsageError(usage);
  const ctx = await openLicensingContext(values.as);
  try {
    if (command === "ban") {
      print(
        await banInstanceByAdmin(ctx.pool, ctx.cache, ctx.actor, id, {
          reason: values.reason as string,
          fingerprint: values.fingerprint,
        }),
        values.json,
      );
    } else if (command === "unban") {
      print(
        await unbanInstanceByAdmin(ctx.pool, ctx.cache, ctx.actor, id, values.reason as string),
        values.json,
      );
    } else {
      print(await showInstance(ctx.pool, id), values.json);
    }
  } finally {
    await ctx.close();
  }
}

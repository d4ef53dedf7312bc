import { parseArgs } from "node:util";
import {
  banInstanceByAdmin,
  listInstances,
  resetInstanceRegistration,
  showInstance,
  unbanInstanceByAdmin,
} from "../../licensing/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { requireCommand, requireOperand, requireOptions, UsageError } from "../usage.ts";
import { erase } from "./instance-erase.ts";

export const usage = `  smstats instance ban <instance id> --reason TEXT [--fingerprint] [--json]
  smstats instance unban <instance id> --reason TEXT [--json]
  smstats instance reset <instance id> --reason TEXT [--json]   (owner lost every credential: next registration of its hwid claims it)
  smstats instance show <instance id> [--json]
  smstats instance erase <instance id> [--no-wait] [--json]   (every store; audited; a second run is a no-op)
  smstats instance list [--search ID|HWID|EMAIL] [--tier T] [--version V] [--platform P] [--banned | --not-banned]
                        [--seen-since DATE] [--limit N] [--cursor C] [--json]`;

/** `smstats instance …`: ban, unban, show and erase instances (every change audited). */
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
      search: { type: "string" },
      tier: { type: "string" },
      version: { type: "string" },
      platform: { type: "string" },
      banned: { type: "boolean", default: false },
      "not-banned": { type: "boolean", default: false },
      "seen-since": { type: "string" },
      limit: { type: "string", default: "50" },
      cursor: { type: "string" },
      "no-wait": { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("instance", command, ["ban", "unban", "reset", "show", "list", "erase"]);
  if (command === "list") return list(values);
  const id = requireOperand(positionals[0], "<instance id>", `instance ${command}`);
  if (command === "erase") {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw new UsageError("<instance id> is a UUID");
    return erase(id, values);
  }
  if (command !== "show") requireOptions(values, ["reason"], `instance ${command}`);
  const ctx = await openLicensingContext(values.as);
  try {
    if (command === "ban") {
      print(
        await banInstanceByAdmin(ctx.pool, ctx.vault, ctx.cache, ctx.actor, id, {
          reason: values.reason as string,
          fingerprint: values.fingerprint,
        }),
        values.json,
      );
    } else if (command === "reset") {
      print(
        await resetInstanceRegistration(
          ctx.pool,
          ctx.vault,
          ctx.cache,
          ctx.actor,
          id,
          values.reason as string,
        ),
        values.json,
      );
    } else if (command === "unban") {
      print(
        await unbanInstanceByAdmin(ctx.pool, ctx.vault, ctx.cache, ctx.actor, id, values.reason as string),
        values.json,
      );
    } else {
      print(await showInstance(ctx.pool, ctx.vault, id), values.json);
    }
  } finally {
    await ctx.close();
  }
}

/** `smstats instance list`: the admin API's instance list (newest first, cursor paging) on the terminal. */
async function list(values: {
  search?: string;
  tier?: string;
  version?: string;
  platform?: string;
  banned: boolean;
  "not-banned": boolean;
  "seen-since"?: string;
  limit: string;
  cursor?: string;
  json: boolean;
  as?: string;
}): Promise<void> {
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError("--limit is 1…1000");
  const seenAfter = values["seen-since"] ? new Date(values["seen-since"]) : undefined;
  if (seenAfter && Number.isNaN(seenAfter.getTime())) throw new UsageError("--seen-since is not a date");
  const ctx = await openLicensingContext(values.as);
  try {
    const page = await listInstances(
      ctx.pool,
      ctx.vault,
      {
        q: values.search,
        tier: values.tier,
        version: values.version,
        platform: values.platform,
        banned: values.banned ? true : values["not-banned"] ? false : undefined,
        seenAfter,
      },
      { cursor: values.cursor, limit },
    );
    if (values.json) {
      print(page, true);
      return;
    }
    if (page.items.length === 0) console.log("no instances");
    for (const i of page.items) {
      console.log(
        [
          i.id,
          i.tier,
          i.version ?? "-",
          i.platform ?? "-",
          i.owner_email ?? "-",
          `seen ${i.last_seen_at ?? "never"}`,
          i.banned ? "BANNED" : "",
        ]
          .join("\t")
          .trimEnd(),
      );
    }
    if (page.next_cursor) console.log(`next page: --cursor ${page.next_cursor}`);
  } finally {
    await ctx.close();
  }
}

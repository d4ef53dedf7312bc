import { parseArgs } from "node:util";
import { loadConfig } from "../../lib/config/index.ts";
import { loadSecretBox } from "../../licensing/index.ts";
import {
  createWebhookEndpoint,
  disableWebhookEndpoint,
  listDeliveries,
  listWebhookEndpoints,
  replayDelivery,
} from "../../webhooks/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { requireCommand, requireOperand, requireOptions } from "../usage.ts";

export const usage = `  smstats webhooks add --url URL --event E [--event E …] [--description TEXT] [--json]
                        events: license.created|renewed|expired|revoked, instance.banned, alert.fired
  smstats webhooks list [--json]
  smstats webhooks disable <endpoint id>
  smstats webhooks deliveries [--endpoint ID] [--status pending|delivered|failed] [--limit N] [--json]
  smstats webhooks replay <delivery id>`;

/** `smstats webhooks …`: outgoing webhook endpoints, the delivery log and replays (changes audited). */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      event: { type: "string", multiple: true },
      description: { type: "string" },
      endpoint: { type: "string" },
      status: { type: "string" },
      limit: { type: "string", default: "50" },
      as: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("webhooks", command, ["add", "list", "disable", "deliveries", "replay"]);
  if (command === "add") requireOptions(values, ["url", "event"], "webhooks add");
  if (command === "replay") requireOperand(positionals[0], "<delivery id>", "webhooks replay");
  if (command === "disable") requireOperand(positionals[0], "<endpoint id>", "webhooks disable");
  const config = loadConfig();
  const ctx = await openLicensingContext(values.as);
  try {
    if (command === "add") {
      const created = await createWebhookEndpoint(ctx.pool, await loadSecretBox(config.dataDir), ctx.actor, {
        url: values.url as string,
        events: values.event as string[],
        description: values.description ?? null,
        allowRemote: config.webhooks.allowRemote,
      });
      if (values.json) print(created, true);
      else {
        console.log(`signing secret (shown once): ${created.secret}`);
        print(created.endpoint, false);
      }
    } else if (command === "list") {
      const endpoints = await listWebhookEndpoints(ctx.pool);
      if (values.json) print(endpoints, true);
      else
        for (const e of endpoints)
          console.log(`${e.id}  ${e.disabled ? "disabled" : "enabled "}  ${e.url}  ${e.events.join(",")}`);
    } else if (command === "disable") {
      print(await disableWebhookEndpoint(ctx.pool, ctx.actor, positionals[0] as string), values.json);
    } else if (command === "deliveries") {
      const list = await listDeliveries(ctx.pool, {
        endpointId: values.endpoint,
        status: values.status,
        limit: Number(values.limit),
      });
      if (values.json) print(list, true);
      else
        for (const d of list) {
          console.log(
            `${d.id}  ${d.event_type.padEnd(16)} ${d.status.padEnd(9)} attempts ${d.attempts}  ${d.last_error ?? ""}`,
          );
        }
    } else {
      await replayDelivery(ctx.pool, ctx.actor, positionals[0] as string);
      console.log(`delivery ${positionals[0]} queued again (the service's worker sends it)`);
    }
  } finally {
    await ctx.close();
  }
}

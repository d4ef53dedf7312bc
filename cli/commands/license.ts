import { parseArgs } from "node:util";
import {
  issueLicense,
  listLicenses,
  revokeLicense,
  showLicense,
  withTransaction,
  writeAudit,
} from "../../licensing/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { requireCommand, requireOperand, requireOptions, UsageError } from "../usage.ts";

export const usage = `  smstats license issue --tier starter|party_host|venue (or the key labels STARTER|PARTY|VENUE) --email OWNER [--days N | --expires ISO]
                        [--max-instances N] [--billing monthly|yearly|lifetime] [--notes TEXT] [--json]
  smstats license revoke <license id | key> --reason TEXT [--json]
  smstats license show <license id | key> [--json]
  smstats license list [--email OWNER] [--tier T] [--revoked | --active] [--limit N] [--json]
  smstats license policy-changed   after an UPDATE of tier_policies: every cached seat state is reloaded`;

/** `smstats license …`: issue, revoke, show and list licenses (every change audited). */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      tier: { type: "string" },
      email: { type: "string" },
      days: { type: "string" },
      expires: { type: "string" },
      "max-instances": { type: "string" },
      billing: { type: "string" },
      notes: { type: "string" },
      reason: { type: "string" },
      revoked: { type: "boolean", default: false },
      active: { type: "boolean", default: false },
      limit: { type: "string", default: "100" },
      as: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const ref = positionals[0];
  requireCommand("license", command, ["issue", "revoke", "show", "list", "policy-changed"]);
  if (command === "issue") requireOptions(values, ["tier", "email"], "license issue");
  if (command === "revoke" || command === "show")
    requireOperand(ref, "<license id | key>", `license ${command}`);
  if (command === "revoke") requireOptions(values, ["reason"], "license revoke");
  const ctx = await openLicensingContext(values.as);
  try {
    if (command === "issue") {
      const expiresAt = values.expires
        ? new Date(values.expires)
        : values.days
          ? new Date(Date.now() + Number(values.days) * 86_400_000)
          : null;
      if (expiresAt && Number.isNaN(expiresAt.getTime())) throw new UsageError("--expires is not a date");
      const { license, key } = await issueLicense(ctx.pool, ctx.vault, ctx.actor, {
        tier: values.tier as string,
        ownerEmail: values.email as string,
        expiresAt,
        maxInstances: values["max-instances"] ? Number(values["max-instances"]) : null,
        billingPeriod: (values.billing as "monthly" | "yearly" | "lifetime" | undefined) ?? null,
        notes: values.notes ?? null,
      });
      if (values.json) print({ key, license }, true);
      else {
        console.log(`key (shown once, only its hash is kept): ${key}`);
        print(license, false);
      }
    } else if (command === "revoke") {
      print(
        await revokeLicense(
          ctx.pool,
          ctx.vault,
          ctx.cache,
          ctx.actor,
          ref as string,
          values.reason as string,
        ),
        values.json,
      );
    } else if (command === "policy-changed") {
      // Audited first (it also proves the schema is there), then every cached answer input goes stale.
      await withTransaction(ctx.pool, (c) =>
        writeAudit(c, ctx.actor, "tier_policies.changed", { type: "tier_policies", id: "*" }, {}),
      );
      await ctx.cache.invalidateAll();
      console.log("cached seat states dropped: the next validation of every instance reads the new policies");
    } else if (command === "show") {
      print(await showLicense(ctx.pool, ctx.vault, ref as string), values.json);
    } else {
      const rows = await listLicenses(ctx.pool, ctx.vault, {
        ownerEmail: values.email,
        tier: values.tier,
        revoked: values.revoked ? true : values.active ? false : undefined,
        limit: Number(values.limit),
      });
      if (values.json) print(rows, true);
      else if (rows.length === 0) console.log("no licenses");
      else
        for (const l of rows)
          console.log(
            `${l.id}\t${l.key_hint}\t${l.tier}\t${l.owner_email}\tseats ${l.seats_used}/${l.max_instances}\t${
              l.revoked ? "revoked" : l.expires_at ? `expires ${l.expires_at}` : "no expiry"
            }`,
          );
    }
  } finally {
    await ctx.close();
  }
}

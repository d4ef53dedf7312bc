import { parseArgs } from "node:util";
import { loadConfig } from "../../lib/config/index.ts";
import {
  ADMIN_SCOPES,
  type AdminScope,
  createAdminToken,
  listAdminTokens,
  listAudit,
  loadKeyRing,
  revokeAdminToken,
  rotateSigningKey,
  withTransaction,
  writeAudit,
} from "../../licensing/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { requireCommand, requireOperand, requireOptions } from "../usage.ts";

export const usage = `  smstats admin token create --name NAME --scope S [--scope S …] [--days N] [--json]
      scopes: ${ADMIN_SCOPES.join(", ")}
  smstats admin token list [--json]
  smstats admin token revoke <token id>
  smstats admin audit [--target-type T] [--target-id ID] [--action A] [--limit N] [--json]
  smstats admin keys rotate      new signing key; old public keys stay published (restart ingest after)`;

/**
 * Rotates the signing key in the data folder: tokens, leases and answers are signed with a new key, and the
 * previous public keys stay in /v1/keys so what they signed keeps verifying. Audited. Each ingest process
 * signs with the key it loaded at start: restart them (rolling) after a rotation.
 */
async function rotateKeys(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { as: { type: "string" } }, strict: true });
  const ctx = await openLicensingContext(values.as);
  try {
    const before = (await loadKeyRing(loadConfig().dataDir)).current.kid;
    const ring = await rotateSigningKey(loadConfig().dataDir);
    await withTransaction(ctx.pool, (c) =>
      writeAudit(
        c,
        ctx.actor,
        "signing_key.rotate",
        { type: "signing_key", id: ring.current.kid },
        {
          previous: before,
          published: ring.jwks().keys.map((k) => k.kid),
        },
      ),
    );
    console.log(
      `signing key ${ring.current.kid} (was ${before}); restart the ingest processes to sign with it`,
    );
  } finally {
    await ctx.close();
  }
}

/** `smstats admin …`: admin API tokens, the audit log and signing-key rotation. */
export async function run(argv: string[]): Promise<void> {
  const [area, ...afterArea] = argv;
  if (area === "keys" && afterArea[0] === "rotate") return rotateKeys(afterArea.slice(1));
  const [command, ...rest] = area === "token" ? afterArea : ["", ...afterArea];
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      scope: { type: "string", multiple: true },
      days: { type: "string" },
      "target-type": { type: "string" },
      "target-id": { type: "string" },
      action: { type: "string" },
      limit: { type: "string", default: "50" },
      as: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("admin", area, ["token", "audit", "keys"]);
  if (area === "keys") requireCommand("admin keys", afterArea[0], ["rotate"]);
  if (area === "token") requireCommand("admin token", command, ["create", "list", "revoke"]);
  if (area === "token" && command === "create")
    requireOptions(values, ["name", "scope"], "admin token create");
  if (area === "token" && command === "revoke")
    requireOperand(positionals[0], "<token id>", "admin token revoke");
  const ctx = await openLicensingContext(values.as);
  try {
    if (area === "audit") {
      const rows = await listAudit(
        ctx.pool,
        {
          targetType: values["target-type"],
          targetId: values["target-id"],
          action: values.action,
          limit: Number(values.limit),
        },
        ctx.vault,
      );
      if (values.json) print(rows, true);
      else
        for (const r of rows)
          console.log(
            `${r.at}\t${r.actor}\t${r.action}\t${r.target_type}:${r.target_id}\t${JSON.stringify(r.changes)}`,
          );
    } else if (command === "create") {
      const created = await createAdminToken(ctx.pool, ctx.actor, {
        name: values.name as string,
        scopes: values.scope as AdminScope[],
        expiresAt: values.days ? new Date(Date.now() + Number(values.days) * 86_400_000) : null,
      });
      if (values.json) print(created, true);
      else console.log(`token (shown once): ${created.token}\nid: ${created.id}`);
    } else if (command === "list") {
      print(await listAdminTokens(ctx.pool), true);
    } else {
      const done = await revokeAdminToken(ctx.pool, ctx.actor, positionals[0] as string);
      console.log(done ? "revoked" : "no such live token");
      if (!done) process.exitCode = 1;
    }
  } finally {
    await ctx.close();
  }
}

import { parseArgs } from "node:util";
import { loadConfig } from "../../lib/config/index.ts";
import {
  ADMIN_SCOPES,
  type AdminScope,
  createAdminToken,
  listAdminTokens,
  listAudit,
  loadKeyRing,
  loadSecretBox,
  resealAll,
  revokeAdminToken,
  rotateSecretBox,
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
  smstats admin keys rotate      new signing key; old public keys stay published (restart ingest after)
  smstats admin keys rotate-box  new secret-box key for sealed values; old keys still open (restart services after)
  smstats admin keys reseal      moves every sealed value (emails, addresses, secrets) to the newest secret-box key`;

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

/**
 * Secret-box keys: `rotate-box` adds a new key (values sealed from then on name it; every older key still
 * opens what it sealed), `reseal` moves every stored sealed value to the newest key. Both audited.
 */
async function secretBoxKeys(command: "rotate-box" | "reseal", argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { as: { type: "string" } }, strict: true });
  const ctx = await openLicensingContext(values.as);
  try {
    const dataDir = loadConfig().dataDir;
    if (command === "rotate-box") {
      const id = await rotateSecretBox(dataDir);
      await withTransaction(ctx.pool, (c) =>
        writeAudit(c, ctx.actor, "secret_box.rotate", { type: "secret_box", id: String(id) }, {}),
      );
      console.log(
        `secret-box key ${id}; restart ingest and processors, then run \`smstats admin keys reseal\``,
      );
      return;
    }
    const report = await resealAll(ctx.pool, await loadSecretBox(dataDir));
    await withTransaction(ctx.pool, (c) =>
      writeAudit(c, ctx.actor, "secret_box.reseal", { type: "secret_box", id: "*" }, report),
    );
    for (const [column, r] of Object.entries(report)) {
      console.log(`${column}	resealed ${r.resealed}	unreadable ${r.unreadable}`);
    }
  } finally {
    await ctx.close();
  }
}

/** `smstats admin …`: admin API tokens, the audit log and signing-key rotation. */
export async function run(argv: string[]): Promise<void> {
  const [area, ...afterArea] = argv;
  if (area === "keys" && afterArea[0] === "rotate") return rotateKeys(afterArea.slice(1));
  if (area === "keys" && (afterArea[0] === "rotate-box" || afterArea[0] === "reseal"))
    return secretBoxKeys(afterArea[0], afterArea.slice(1));
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
  if (area === "keys") requireCommand("admin keys", afterArea[0], ["rotate", "rotate-box", "reseal"]);
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

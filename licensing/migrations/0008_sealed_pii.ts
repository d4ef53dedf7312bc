import { isIP } from "node:net";
import type pg from "pg";
import { createCountryLookup } from "../../processors/steps/enrich/country-lookup.ts";
import type { PiiVault } from "../keys/index.ts";

/** Rows sealed per table by the companion, for the migration's log line. */
export type SealedCounts = Record<string, number>;

/**
 * The companion of 0008_sealed_pii.sql, run between its two halves in the migration's transaction: seals
 * every clear owner email, subscription email and address into the columns the first half added, so the
 * second half can drop the clear columns. Keys are loaded only when there is something to seal.
 */
export async function sealExistingPii(
  db: pg.ClientBase,
  loadVault: () => Promise<PiiVault>,
): Promise<SealedCounts> {
  const counts: SealedCounts = {};
  let vault: PiiVault | undefined;
  const v = async () => {
    vault ??= await loadVault();
    return vault;
  };
  // GeoLite2 loads 8 MB: only when there are addresses to place.
  let lookup: ((ip: string) => string) | undefined;
  const country = (ip: string) => {
    lookup ??= createCountryLookup();
    return lookup(ip);
  };
  const emails: [string, string, string][] = [
    ["instances", "owner_email", "owner_email"],
    ["licenses", "owner_email", "owner_email"],
    ["payment_subscriptions", "email", "email"],
  ];
  for (const [table, clear, prefix] of emails) {
    const { rows } = await db.query(
      `SELECT ctid::text AS row, ${clear} AS value FROM ${table} WHERE ${clear} IS NOT NULL`,
    );
    for (const r of rows) {
      const box = await v();
      await db.query(`UPDATE ${table} SET ${prefix}_sealed = $2, ${prefix}_index = $3 WHERE ctid = $1::tid`, [
        r.row,
        box.sealEmail(r.value),
        box.emailIndex(r.value),
      ]);
    }
    counts[table] = rows.length;
  }
  const activations = await db.query(
    "SELECT id, host(ip_address) AS ip FROM license_activations WHERE ip_address IS NOT NULL",
  );
  for (const r of activations.rows) {
    await db.query("UPDATE license_activations SET ip_sealed = $2, country = $3 WHERE id = $1", [
      r.id,
      (await v()).sealAddress(r.ip),
      country(r.ip),
    ]);
  }
  counts.license_activations = activations.rows.length;
  const audit = await db.query("SELECT id, host(ip) AS ip FROM audit_log WHERE ip IS NOT NULL");
  for (const r of audit.rows) {
    await db.query("UPDATE audit_log SET ip_sealed = $2 WHERE id = $1", [
      r.id,
      (await v()).sealAddress(r.ip),
    ]);
  }
  counts.audit_log = audit.rows.length;
  // Key-guessing flags named the guessing address; they now name its keyed tag (PiiVault.addressTag).
  const flags = await db.query("SELECT id, subject FROM abuse_flags WHERE rule = 'key_guessing'");
  let tagged = 0;
  for (const r of flags.rows) {
    if (isIP(r.subject) === 0) continue;
    await db.query("UPDATE abuse_flags SET subject = $2 WHERE id = $1", [
      r.id,
      `ip:${(await v()).addressTag(r.subject)}`,
    ]);
    tagged++;
  }
  counts.abuse_flags = tagged;
  return counts;
}

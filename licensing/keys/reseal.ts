import type pg from "pg";
import type { SecretBox } from "./secret-box.ts";

/** Every column holding secret-box values, with the SQL of each row's context (see each sealing site). */
const SEALED_COLUMNS: { table: string; column: string; context: string }[] = [
  { table: "instances", column: "owner_email_sealed", context: "'pii:email'" },
  { table: "licenses", column: "owner_email_sealed", context: "'pii:email'" },
  { table: "payment_subscriptions", column: "email_sealed", context: "'pii:email'" },
  { table: "license_activations", column: "ip_sealed", context: "'pii:address'" },
  {
    table: "instance_credentials",
    column: "signing_secret_enc",
    context: "'instance-signing-secret:' || instance_id",
  },
  { table: "webhook_endpoints", column: "secret_sealed", context: "'webhook:' || id" },
];

/** What a re-seal did per table: values moved to the current key, and values that would not open. */
export type ResealReport = Record<string, { resealed: number; unreadable: number }>;

/**
 * Moves every sealed value not yet under the secret box's current key to it (open with its own key, seal
 * with the current one), so that after a rotation (`smstats admin keys rotate-box`) the old key can be
 * retired. Each row is updated only if it still holds the value read, so a concurrent write wins. The
 * audit log's sealed addresses are left (it is append-only): they keep their key until audit retention
 * removes them. Run it again until it reports nothing; it is idempotent.
 */
export async function resealAll(
  pool: pg.Pool | pg.ClientBase,
  box: SecretBox,
  batch = 500,
): Promise<ResealReport> {
  const report: ResealReport = {};
  for (const { table, column, context } of SEALED_COLUMNS) {
    const stats = { resealed: 0, unreadable: 0 };
    const { rows } = await pool.query<{ row: string; value: Buffer; context: string }>(
      `SELECT ctid::text AS row, ${column} AS value, ${context} AS context FROM ${table} WHERE ${column} IS NOT NULL`,
    );
    const stale = rows.filter((r) => box.keyIdOf(r.value) !== box.currentKeyId);
    for (let i = 0; i < stale.length; i += batch) {
      for (const r of stale.slice(i, i + batch)) {
        let plain: Buffer;
        try {
          plain = box.open(r.value, r.context);
        } catch {
          stats.unreadable++;
          continue;
        }
        const res = await pool.query(
          `UPDATE ${table} SET ${column} = $2 WHERE ctid = $1::tid AND ${column} = $3`,
          [r.row, box.seal(plain, r.context), r.value],
        );
        stats.resealed += res.rowCount ?? 0;
      }
    }
    report[`${table}.${column}`] = stats;
  }
  return report;
}

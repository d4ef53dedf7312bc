import type pg from "pg";
import { withTransaction } from "../../licensing/index.ts";
import { postgresInstanceTables } from "../instance-tables.ts";
import type { ErasureSubject } from "./subject.ts";

// Tables with an instance_id column that are not simply deleted from:
// - licenses: the business keeps license records (payments, tax); they lose the link and personal fields;
// - audit_log: append-only for the service's role; its own retention applies (privacy/README.md);
// - erasure_jobs: has no instance_id (only a hash of it), listed for clarity.
const KEPT = new Set(["licenses", "audit_log", "erasure_jobs"]);

/**
 * Deletes the instance from PostgreSQL in one transaction: every row of every table with an instance_id
 * column (consent and its history, activations with their fingerprint components, leases, session stats,
 * credentials, refresh tokens, and whatever table is added later), abuse flags naming it, webhook
 * deliveries carrying its id, and the instance row. Licenses it held are kept without the link, and the
 * owner e-mail is removed from those whose owner is this instance's owner. Running it again finds nothing.
 */
export async function erasePostgres(pool: pg.Pool, s: ErasureSubject): Promise<Record<string, number>> {
  return withTransaction(pool, async (c) => {
    const removed: Record<string, number> = {};
    const count = (key: string, n: number | null) => {
      if (n) removed[key] = (removed[key] ?? 0) + n;
    };
    const licenses = await c.query<{ id: string }>(
      `SELECT id FROM licenses WHERE instance_id = $1
       UNION SELECT license_id FROM license_activations WHERE instance_id = $1`,
      [s.instanceId],
    );
    const licenseIds = licenses.rows.map((r) => r.id);
    // E-mails are sealed at rest (licensing migration 0008) and matched through their blind index.
    if (s.emailIndex) {
      const index = Buffer.from(s.emailIndex, "hex");
      const scrubbed = await c.query(
        `UPDATE licenses SET owner_email_sealed = NULL, owner_email_index = NULL
         WHERE id = ANY($1::uuid[]) AND owner_email_index = $2`,
        [licenseIds, index],
      );
      count("postgres.licenses_scrubbed", scrubbed.rowCount);
      await c.query(
        `UPDATE payment_subscriptions SET email_sealed = NULL, email_index = NULL
         WHERE license_id = ANY($1::uuid[]) AND email_index = $2`,
        [licenseIds, index],
      );
    }
    await c.query("UPDATE licenses SET instance_id = NULL WHERE instance_id = $1", [s.instanceId]);
    const needles = [s.instanceId, s.hwid, s.email, ...s.addresses, ...(s.addressTags ?? [])].filter(Boolean);
    const flags = await c.query(
      `DELETE FROM abuse_flags f WHERE EXISTS (
         SELECT 1 FROM unnest($1::text[]) n WHERE position(n IN f.subject || ' ' || f.details::text) > 0)`,
      [needles],
    );
    count("postgres.abuse_flags", flags.rowCount);
    const deliveries = await c.query(
      "DELETE FROM webhook_deliveries WHERE position($1 IN payload::text) > 0",
      [s.instanceId],
    );
    count("postgres.webhook_deliveries", deliveries.rowCount);
    await deleteInstanceRows(c, s.instanceId, count);
    const inst = await c.query("DELETE FROM instances WHERE id = $1", [s.instanceId]);
    count("postgres.instances", inst.rowCount);
    return removed;
  });
}

// Deletes from every table with an instance_id column. Foreign keys between them (leases → activations)
// decide an order no list has to know: a delete refused by a reference is retried in the next pass,
// after the referencing rows went.
async function deleteInstanceRows(
  c: pg.ClientBase,
  instanceId: string,
  count: (key: string, n: number | null) => void,
): Promise<void> {
  let todo = (await postgresInstanceTables(c)).map((t) => t.name).filter((t) => !KEPT.has(t));
  for (let pass = 0; todo.length > 0; pass++) {
    const refused: string[] = [];
    for (const table of todo) {
      await c.query("SAVEPOINT erase_table");
      try {
        const r = await c.query(`DELETE FROM ${quoteIdent(table)} WHERE instance_id::text = $1`, [
          instanceId,
        ]);
        count(`postgres.${table}`, r.rowCount);
        await c.query("RELEASE SAVEPOINT erase_table");
      } catch (err) {
        await c.query("ROLLBACK TO SAVEPOINT erase_table");
        if ((err as { code?: string }).code !== "23503" || pass >= 8) throw err;
        refused.push(table);
      }
    }
    todo = refused;
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new RangeError(`not a plain table name: ${name}`);
  return `"${name}"`;
}

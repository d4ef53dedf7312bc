import type pg from "pg";
import type { Logger } from "../lib/log/index.ts";
import type { PiiVault } from "../licensing/index.ts";
import { expiringMail, type Mailer } from "../mail/index.ts";

/**
 * Mails the owner of every license that expires within 7 days (not revoked, not already told about this
 * expiry). The notice is recorded before the mail goes out and removed again if sending fails, so two
 * ingest processes sweeping at once send one mail. Returns how many were sent.
 */
export async function sendExpiryNotices(
  pool: pg.Pool,
  vault: PiiVault,
  mailer: Mailer,
  log: Logger,
  now = new Date(),
): Promise<number> {
  const { rows } = await pool.query(
    `INSERT INTO license_notices (license_id, kind, expires_at)
     SELECT id, 'expiring_7d', expires_at FROM licenses
     WHERE NOT COALESCE(is_revoked, false) AND expires_at > $1 AND expires_at <= $1::timestamptz + interval '7 days'
     ON CONFLICT DO NOTHING
     RETURNING license_id, expires_at`,
    [now],
  );
  let sent = 0;
  for (const r of rows) {
    const lic = (
      await pool.query("SELECT owner_email_sealed, key_hint, tier FROM licenses WHERE id = $1", [
        r.license_id,
      ])
    ).rows[0];
    const to = vault.openEmail(lic.owner_email_sealed);
    if (!to) continue; // erased: nobody to tell
    try {
      await mailer.send(
        "expiring_7d",
        expiringMail({ to, keyHint: lic.key_hint, tier: lic.tier, expiresAt: r.expires_at }),
      );
      sent++;
    } catch (err) {
      log.error({ err, licenseId: r.license_id }, "expiry notice failed; retried at the next sweep");
      await pool.query(
        "DELETE FROM license_notices WHERE license_id = $1 AND kind = 'expiring_7d' AND expires_at = $2",
        [r.license_id, r.expires_at],
      );
    }
  }
  return sent;
}

import type pg from "pg";
import { LicensingError } from "../errors.ts";
import { isUuid } from "../instances/index.ts";

/** What an instance did with licenses and consent, for its page in the console. */
export interface InstanceActivity {
  /** Every activation, newest first: where from and whether its fingerprint is the live seat's. */
  activations: {
    license_id: string;
    key_hint: string;
    activated_at: string;
    deactivated_at: string | null;
    deactivation_reason: string | null;
    last_heartbeat_at: string;
    /** ISO 3166 code of the activation's address, "" when unknown. */
    country: string;
    fingerprint_digest: string | null;
    /** The digest equals the live seat's (same machine); null without a live seat. */
    fingerprint_matches_seat: boolean | null;
  }[];
  /** The latest leases issued to it. */
  leases: { issued_at: string; not_after: string; tier: string; reason: string; kid: string }[];
  consent: Record<string, boolean>;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** An instance's activations (with country and fingerprint match), its last 20 leases and its consent. */
export async function instanceActivity(pool: pg.Pool, id: string): Promise<InstanceActivity> {
  if (!isUuid(id)) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const [activations, leases, consent] = await Promise.all([
    pool.query(
      `SELECT a.license_id, l.key_hint, a.activated_at, a.deactivated_at, a.deactivation_reason,
         a.last_heartbeat_at, a.country, a.fingerprint_digest,
         (SELECT s.fingerprint_digest FROM license_activations s
           WHERE s.instance_id = a.instance_id AND s.deactivated_at IS NULL) AS seat_digest,
         EXISTS (SELECT 1 FROM license_activations s WHERE s.instance_id = a.instance_id AND s.deactivated_at IS NULL) AS has_seat
       FROM license_activations a JOIN licenses l ON l.id = a.license_id
       WHERE a.instance_id = $1 ORDER BY a.activated_at DESC LIMIT 50`,
      [id],
    ),
    pool.query(
      `SELECT issued_at, not_after, tier, reason, kid FROM leases WHERE instance_id = $1
       ORDER BY issued_at DESC LIMIT 20`,
      [id],
    ),
    pool.query("SELECT family, granted FROM instance_consent WHERE instance_id = $1 ORDER BY family", [id]),
  ]);
  return {
    activations: activations.rows.map((r) => ({
      license_id: r.license_id,
      key_hint: r.key_hint,
      activated_at: (r.activated_at as Date).toISOString(),
      deactivated_at: iso(r.deactivated_at),
      deactivation_reason: r.deactivation_reason,
      last_heartbeat_at: (r.last_heartbeat_at as Date).toISOString(),
      country: r.country,
      fingerprint_digest: r.fingerprint_digest,
      fingerprint_matches_seat: r.has_seat ? r.fingerprint_digest === r.seat_digest : null,
    })),
    leases: leases.rows.map((r) => ({
      issued_at: (r.issued_at as Date).toISOString(),
      not_after: (r.not_after as Date).toISOString(),
      tier: r.tier,
      reason: r.reason,
      kid: r.kid,
    })),
    consent: Object.fromEntries(consent.rows.map((r) => [r.family, r.granted])),
  };
}

import type pg from "pg";
import { type FingerprintComponents, fingerprintDigest } from "../client/index.ts";
import { LicensingError } from "../errors.ts";
import { withTransaction } from "../instances/index.ts";
import { judgeTransfer, TRANSFER_WINDOW_MS } from "./seat-rules.ts";
import type { SeatLicense } from "./seat-state.ts";
import { insertComponents } from "./take-seat.ts";

/** A lease to record (the answer's signed lease and what it was granted on). */
export interface LeaseRow {
  jti: string;
  instanceId: string;
  licenseId: string | null;
  tier: string;
  reason: string;
  fingerprintDigest: string | null;
  nonce: string;
  kid: string;
  issuedAt: Date | string | number;
  notAfter: Date | string | number;
}

/**
 * Every SQL statement of the seat service (activation itself is in take-seat.ts). The service
 * (licensing-service.ts) decides with decide.ts and seat-rules.ts and calls these; nothing here decides.
 */
export interface SeatStore {
  flagAbuse(rule: "key_guessing" | "fingerprint_clones", subject: string, details: object): Promise<void>;
  recordLease(lease: LeaseRow): Promise<void>;
  /** The license whose key hashes to `keyHash`, or undefined. */
  licenseByKeyHash(keyHash: string): Promise<SeatLicense | undefined>;
  /** Replaces a seat's stored components (and digest) with the drifted ones. */
  replaceComponents(activationId: string, components: FingerprintComponents): Promise<void>;
  /** Records a heartbeat on a live seat; false when the seat was freed meanwhile. */
  beat(activationId: string, now: Date): Promise<boolean>;
  touchInstance(instanceId: string, now: Date): Promise<void>;
  /** Ends the instance's seat as a self-service transfer within the tier's cap (seat-rules' judgeTransfer). */
  deactivateSelf(instanceId: string, now: Date): Promise<{ licenseId: string; left: number }>;
  /** Frees seats whose heartbeats stopped; returns the instances dropped to Starter. */
  freeDeadSeats(deadSeconds: number, now: Date): Promise<string[]>;
  /** Drops to Starter the instances whose seat's license expired or was revoked. */
  demoteLapsed(now: Date): Promise<void>;
}

export function createSeatStore(pool: pg.Pool): SeatStore {
  return {
    async flagAbuse(rule, subject, details) {
      await pool.query("INSERT INTO abuse_flags (rule, subject, details) VALUES ($1, $2, $3)", [
        rule,
        subject,
        details,
      ]);
    },

    async recordLease(l) {
      await pool.query(
        `INSERT INTO leases (id, instance_id, license_id, activation_id, tier, reason, fingerprint_digest, nonce,
           kid, issued_at, not_after)
         VALUES ($1, $2, $3, (SELECT id FROM license_activations WHERE instance_id = $2 AND deactivated_at IS NULL),
           $4, $5, $6, $7, $8, $9, $10)`,
        [
          l.jti,
          l.instanceId,
          l.licenseId,
          l.tier,
          l.reason,
          l.fingerprintDigest,
          l.nonce,
          l.kid,
          l.issuedAt,
          l.notAfter,
        ],
      );
    },

    async licenseByKeyHash(keyHash) {
      const { rows } = await pool.query(
        "SELECT id, license_key, tier, expires_at, COALESCE(is_revoked, false) AS revoked FROM licenses WHERE license_key = $1",
        [keyHash],
      );
      const r = rows[0];
      if (!r) return undefined;
      return {
        id: r.id,
        keyHash: r.license_key,
        tier: r.tier,
        expiresAt: r.expires_at ? (r.expires_at as Date).getTime() : null,
        revoked: r.revoked,
      };
    },

    async replaceComponents(activationId, components) {
      await withTransaction(pool, async (c) => {
        await c.query("DELETE FROM activation_components WHERE activation_id = $1", [activationId]);
        await insertComponents(c, activationId, components);
        await c.query("UPDATE license_activations SET fingerprint_digest = $2 WHERE id = $1", [
          activationId,
          fingerprintDigest(components),
        ]);
      });
    },

    async beat(activationId, now) {
      const res = await pool.query(
        "UPDATE license_activations SET last_heartbeat_at = $2 WHERE id = $1 AND deactivated_at IS NULL",
        [activationId, now],
      );
      return (res.rowCount ?? 0) > 0;
    },

    async touchInstance(instanceId, now) {
      await pool.query("UPDATE instances SET last_seen_at = $2 WHERE id = $1", [instanceId, now]);
    },

    async deactivateSelf(instanceId, now) {
      return withTransaction(pool, async (c) => {
        const { rows } = await c.query(
          `SELECT a.id, a.license_id, p.transfers_per_30_days AS cap
           FROM license_activations a JOIN licenses l ON l.id = a.license_id JOIN tier_policies p ON p.tier = l.tier
           WHERE a.instance_id = $1 AND a.deactivated_at IS NULL FOR UPDATE OF l, a`,
          [instanceId],
        );
        const seat = rows[0];
        if (!seat) throw new LicensingError("NOT_ACTIVATED", "this instance holds no license seat");
        const done = await c.query(
          `SELECT count(*)::int AS n, min(deactivated_at) AS oldest FROM license_activations
           WHERE license_id = $1 AND deactivation_reason = 'self' AND deactivated_at > $2`,
          [seat.license_id, new Date(now.getTime() - TRANSFER_WINDOW_MS)],
        );
        const used: number = done.rows[0].n;
        const verdict = judgeTransfer({
          used,
          cap: seat.cap,
          oldestMs: (done.rows[0].oldest as Date | null)?.getTime() ?? null,
          nowMs: now.getTime(),
        });
        if (!verdict.ok) {
          throw new LicensingError(
            "TRANSFER_LIMIT",
            `this license was moved ${used} times in 30 days, the most its tier allows`,
            { retryAfterSeconds: verdict.retryAfterSeconds },
          );
        }
        await c.query(
          "UPDATE license_activations SET deactivated_at = $2, deactivation_reason = 'self' WHERE id = $1",
          [seat.id, now],
        );
        await c.query("UPDATE instances SET tier = 'starter' WHERE id = $1", [instanceId]);
        return { licenseId: seat.license_id as string, left: verdict.left };
      });
    },

    async freeDeadSeats(deadSeconds, now) {
      const { rows } = await pool.query(
        `WITH dead AS (
           UPDATE license_activations SET deactivated_at = $2, deactivation_reason = 'heartbeat_dead'
           WHERE deactivated_at IS NULL AND last_heartbeat_at < $2::timestamptz - make_interval(secs => $1)
           RETURNING instance_id)
         UPDATE instances SET tier = 'starter' WHERE id IN (SELECT instance_id FROM dead) RETURNING id`,
        [deadSeconds, now],
      );
      return rows.map((r) => r.id as string);
    },

    async demoteLapsed(now) {
      await pool.query(
        `UPDATE instances SET tier = 'starter' WHERE tier <> 'starter' AND id IN (
           SELECT a.instance_id FROM license_activations a JOIN licenses l ON l.id = a.license_id
           WHERE a.deactivated_at IS NULL AND (COALESCE(l.is_revoked, false) OR l.expires_at <= $1))`,
        [now],
      );
    },
  };
}

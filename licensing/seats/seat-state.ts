import type pg from "pg";
import { isUuid } from "../instances/index.ts";

/** The license a seat is on, as validation needs it. */
export interface SeatLicense {
  id: string;
  /** Hex sha256 of the key. */
  keyHash: string;
  tier: string;
  /** Unix ms, or null when the license never expires. */
  expiresAt: number | null;
  revoked: boolean;
}

/** An instance's latest seat: live (endedReason null) or how it ended. */
export interface Seat {
  activationId: string;
  /** Unix ms. */
  lastHeartbeatAt: number;
  fingerprintDigest: string | null;
  components: Record<string, string>;
  fingerprintBanned: boolean;
  endedReason: string | null;
  license: SeatLicense;
}

/** Everything validation reads about an instance: cached in Redis as it is. */
export interface SeatState {
  instanceId: string;
  banned: boolean;
  seat: Seat | null;
}

/**
 * Loads an instance's ban and latest seat (the live one, or the last one that ended) in one query;
 * undefined for an unknown instance.
 */
export async function loadSeatState(
  db: pg.Pool | pg.ClientBase,
  instanceId: string,
): Promise<SeatState | undefined> {
  if (!isUuid(instanceId)) return undefined;
  const { rows } = await db.query(
    `SELECT i.id, COALESCE(i.is_banned, false) AS banned,
       a.id AS activation_id, a.last_heartbeat_at, a.fingerprint_digest, a.deactivation_reason,
       a.deactivated_at IS NOT NULL AS ended,
       (SELECT COALESCE(json_object_agg(c.component, c.value_hash), '{}'::json)
          FROM activation_components c WHERE c.activation_id = a.id) AS components,
       EXISTS (SELECT 1 FROM bans b WHERE b.kind = 'fingerprint' AND b.value = a.fingerprint_digest
               AND b.lifted_at IS NULL) AS fingerprint_banned,
       l.id AS license_id, l.license_key, l.tier, l.expires_at, COALESCE(l.is_revoked, false) AS revoked
     FROM instances i
     LEFT JOIN LATERAL (
       SELECT * FROM license_activations x WHERE x.instance_id = i.id
       ORDER BY (x.deactivated_at IS NULL) DESC, x.activated_at DESC LIMIT 1
     ) a ON true
     LEFT JOIN licenses l ON l.id = a.license_id
     WHERE i.id = $1`,
    [instanceId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    instanceId: r.id,
    banned: r.banned,
    seat: r.activation_id
      ? {
          activationId: r.activation_id,
          lastHeartbeatAt: (r.last_heartbeat_at as Date).getTime(),
          fingerprintDigest: r.fingerprint_digest,
          components: r.components,
          fingerprintBanned: r.fingerprint_banned,
          endedReason: r.ended ? (r.deactivation_reason ?? "admin") : null,
          license: {
            id: r.license_id,
            keyHash: r.license_key,
            tier: r.tier,
            expiresAt: r.expires_at ? (r.expires_at as Date).getTime() : null,
            revoked: r.revoked,
          },
        }
      : null,
  };
}

import type pg from "pg";
import type { FingerprintComponents } from "../client/index.ts";
import { LicensingError } from "../errors.ts";
import { withTransaction } from "../instances/index.ts";
import { decide, type ReasonCode } from "./decide.ts";
import type { SeatLicense } from "./seat-state.ts";

/** What an activation asks for. */
export interface TakeSeatInput {
  instanceId: string;
  /** Hex sha256 of the key. */
  keyHash: string;
  components: FingerprintComponents;
  /** fingerprintDigest(components). */
  digest: string;
  now: Date;
  /** The client's address, sealed (PiiVault.sealAddress); retention purges it later. */
  ipSealed: Buffer | null;
  /** ISO country of the address, '' when unknown: what stays once the address is purged. */
  country: string;
  userAgent: string | undefined;
  /** Seats without a heartbeat for this long are freed before seats are counted. */
  deadSeconds: number;
  /** Live seats one fingerprint may hold before more are refused as clones. */
  maxInstancesPerFingerprint: number;
}

/** What an activation did. */
export interface SeatOutcome {
  reason: ReasonCode;
  license: SeatLicense | null;
  /** Instances whose cached state changed (this one, and any whose dead seat was freed). */
  touched: string[];
  /** Dead seats freed on the way. */
  freed: number;
  /** Whether the instance's seat of another license was replaced. */
  replaced: boolean;
  /** Refused because the machine's fingerprint is banned. */
  fingerprintBanned: boolean;
  /** Refused as a clone: how many instances would share the fingerprint. */
  clones?: number;
}

/**
 * Takes a seat of the key's license for the instance, in one transaction. The license row lock
 * serialises activations of one license, so seats are counted and taken at once: concurrent activations
 * never get more seats than the license has. Dead seats are freed first; a seat of another license is
 * replaced; the same key again on the same instance is a re-validation that also counts as a heartbeat.
 */
export async function takeSeat(pool: pg.Pool, input: TakeSeatInput): Promise<SeatOutcome> {
  const touched = new Set<string>([input.instanceId]);
  let freed = 0;
  let replaced = false;
  let fingerprintBanned = false;
  const result = await withTransaction(
    pool,
    async (c): Promise<{ reason: ReasonCode; license: SeatLicense | null; clones?: number }> => {
      const lic = await c.query(
        `SELECT l.id, l.license_key, l.tier, l.expires_at, COALESCE(l.is_revoked, false) AS revoked,
           COALESCE(l.max_instances, p.max_instances) AS max_instances
         FROM licenses l JOIN tier_policies p ON p.tier = l.tier WHERE l.license_key = $1 FOR UPDATE OF l`,
        [input.keyHash],
      );
      const r = lic.rows[0];
      if (!r) return { reason: "NOT_FOUND", license: null };
      const license: SeatLicense = {
        id: r.id,
        keyHash: r.license_key,
        tier: r.tier,
        expiresAt: r.expires_at ? (r.expires_at as Date).getTime() : null,
        revoked: r.revoked,
      };
      if (license.revoked) return { reason: "REVOKED", license };
      const inst = await c.query(
        "SELECT COALESCE(is_banned, false) AS banned FROM instances WHERE id = $1 FOR UPDATE",
        [input.instanceId],
      );
      if (!inst.rows[0]) {
        throw new LicensingError("INSTANCE_NOT_FOUND", "the token's instance is not registered");
      }
      if (inst.rows[0].banned) return { reason: "BANNED", license };
      const fpBan = await c.query(
        "SELECT 1 FROM bans WHERE kind = 'fingerprint' AND value = $1 AND lifted_at IS NULL",
        [input.digest],
      );
      if (fpBan.rowCount) {
        fingerprintBanned = true;
        return { reason: "BANNED", license };
      }
      if (license.expiresAt !== null && license.expiresAt <= input.now.getTime()) {
        return { reason: "EXPIRED", license };
      }

      const dead = await c.query(
        `UPDATE license_activations SET deactivated_at = $3, deactivation_reason = 'heartbeat_dead'
         WHERE license_id = $1 AND deactivated_at IS NULL
           AND last_heartbeat_at < $3::timestamptz - make_interval(secs => $2)
         RETURNING instance_id`,
        [license.id, input.deadSeconds, input.now],
      );
      freed = dead.rowCount ?? 0;
      if (freed) {
        const ids = dead.rows.map((f) => f.instance_id as string);
        for (const id of ids) touched.add(id);
        // Instances whose seats were freed run as Starter until they activate again.
        await c.query(
          `UPDATE instances SET tier = 'starter' WHERE id = ANY($1::uuid[]) AND NOT EXISTS (
             SELECT 1 FROM license_activations a WHERE a.instance_id = instances.id AND a.deactivated_at IS NULL)`,
          [ids],
        );
      }

      const mine = await c.query(
        `SELECT a.id, a.license_id,
           (SELECT COALESCE(json_object_agg(component, value_hash), '{}'::json)
              FROM activation_components WHERE activation_id = a.id) AS components
         FROM license_activations a WHERE a.instance_id = $1 AND a.deactivated_at IS NULL`,
        [input.instanceId],
      );
      const current = mine.rows[0];
      if (current && current.license_id === license.id) {
        const d = decide(
          {
            instanceId: input.instanceId,
            banned: false,
            seat: {
              activationId: current.id,
              lastHeartbeatAt: input.now.getTime(),
              fingerprintDigest: null,
              components: current.components,
              fingerprintBanned: false,
              endedReason: null,
              license,
            },
          },
          { components: input.components },
          input.now.getTime(),
          input.deadSeconds * 1000,
        );
        if (d.kind === "answer" && d.reason !== "VALID") return { reason: d.reason, license };
        await c.query("DELETE FROM activation_components WHERE activation_id = $1", [current.id]);
        await insertComponents(c, current.id, input.components);
        await c.query(
          "UPDATE license_activations SET last_heartbeat_at = $2, fingerprint_digest = $3 WHERE id = $1",
          [current.id, input.now, input.digest],
        );
        return { reason: "VALID", license };
      }

      const seats = await c.query(
        "SELECT count(*)::int AS n FROM license_activations WHERE license_id = $1 AND deactivated_at IS NULL",
        [license.id],
      );
      if (seats.rows[0].n >= r.max_instances) return { reason: "TOO_MANY_INSTANCES", license };
      const clones = await c.query(
        `SELECT count(DISTINCT instance_id)::int AS n FROM license_activations
         WHERE fingerprint_digest = $1 AND deactivated_at IS NULL AND instance_id <> $2`,
        [input.digest, input.instanceId],
      );
      if (clones.rows[0].n >= input.maxInstancesPerFingerprint) {
        return { reason: "FINGERPRINT_CLONED", license, clones: clones.rows[0].n + 1 };
      }
      if (current) {
        await c.query(
          "UPDATE license_activations SET deactivated_at = $2, deactivation_reason = 'replaced' WHERE id = $1",
          [current.id, input.now],
        );
        replaced = true;
      }
      const ins = await c.query(
        `INSERT INTO license_activations (license_id, instance_id, activated_at, ip_sealed, country, user_agent,
           last_heartbeat_at, fingerprint_digest)
         VALUES ($1, $2, $3, $4, $7, $5, $3, $6) RETURNING id`,
        [
          license.id,
          input.instanceId,
          input.now,
          input.ipSealed,
          input.userAgent?.slice(0, 512) ?? null,
          input.digest,
          input.country,
        ],
      );
      await insertComponents(c, ins.rows[0].id, input.components);
      await c.query("UPDATE instances SET tier = $2, last_seen_at = $3 WHERE id = $1", [
        input.instanceId,
        license.tier,
        input.now,
      ]);
      return { reason: "VALID", license };
    },
  );
  return { ...result, touched: [...touched], freed, replaced, fingerprintBanned };
}

/** Stores a seat's fingerprint components (inside the caller's transaction). */
export async function insertComponents(
  c: pg.ClientBase,
  activationId: string,
  components: FingerprintComponents,
): Promise<void> {
  const names = Object.keys(components);
  await c.query(
    `INSERT INTO activation_components (activation_id, component, value_hash)
     SELECT $1, n, v FROM unnest($2::text[], $3::text[]) AS t(n, v)`,
    [activationId, names, names.map((n) => components[n])],
  );
}

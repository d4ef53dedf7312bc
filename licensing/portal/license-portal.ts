import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { AbuseGuard } from "../abuse/index.ts";
import { parseLicenseKey } from "../client/index.ts";
import { LicensingError } from "../errors.ts";
import { hashLicenseKey } from "../licenses/license-key.ts";
import type { PolicyBook } from "../policies/index.ts";
import { buildAnswer } from "../seats/answer.ts";
import type { AnswerSigner } from "../signing/index.ts";

/** A license as its owner sees it in the portal. */
export interface PortalLicense {
  id: string;
  key_hint: string;
  tier: string;
  tier_name: string;
  features: string[];
  limits: Record<string, number | null>;
  expires_at: string | null;
  revoked: boolean;
  seats_used: number;
  seats_max: number;
  transfers_used: number;
  transfers_max: number;
}

/** A device (instance) holding one of the license's seats. */
export interface PortalDevice {
  instance_id: string;
  platform: string | null;
  version: string | null;
  activated_at: string;
  last_heartbeat_at: string;
  /** ISO 3166 code from the activation's address, "" when unknown. */
  country: string;
}

/** The offline license file: a signed lease the instance verifies with the published keys. */
export interface OfflineLicenseFile {
  format: "smstats-offline-license/1";
  instance_id: string;
  license_id: string;
  /** The nonce the lease carries (verifyLease's `nonce`). */
  nonce: string;
  lease: string;
  lease_expires_at: string;
  issued_at: string;
}

const TRANSFER_WINDOW_DAYS = 30;

/** What the portal's operations need. */
export interface PortalDeps {
  pool: pg.Pool;
  abuse: AbuseGuard;
  policies: PolicyBook;
  signer: AnswerSigner;
  /** Failed sign-ins per address per window. */
  signInAttempts: number;
  signInWindowSeconds: number;
}

/**
 * The license id of a key presented at the portal's sign-in. Unknown keys count against the address
 * (rule key_guessing, subject portal:<ip>); past the limit every attempt is refused until the window ends,
 * before the key is even looked at.
 */
export async function portalSignIn(deps: PortalDeps, ip: string, key: string): Promise<string> {
  const subject = `portal:${ip}`;
  const v = await deps.abuse.check("key_guessing", subject, deps.signInAttempts);
  if (v.blocked) {
    throw new LicensingError("PORTAL_SIGNIN_LIMITED", "too many failed sign-ins from this address", {
      retryAfterSeconds: v.retryAfterSeconds,
    });
  }
  const parsed = parseLicenseKey(key);
  const { rows } = parsed
    ? await deps.pool.query("SELECT id FROM licenses WHERE license_key = $1", [hashLicenseKey(key)])
    : { rows: [] };
  if (!rows[0]) {
    await deps.abuse.hit("key_guessing", subject, deps.signInWindowSeconds);
    throw new LicensingError("PORTAL_KEY_INVALID", "no license has this key");
  }
  return rows[0].id as string;
}

/** The license with its tier's features and limits, seats in use and transfers used in 30 days. */
export async function portalLicense(deps: PortalDeps, licenseId: string): Promise<PortalLicense> {
  const { rows } = await deps.pool.query(
    `SELECT l.id, l.key_hint, l.tier, l.expires_at, COALESCE(l.is_revoked, false) AS revoked, l.max_instances,
       (SELECT count(*)::int FROM license_activations a WHERE a.license_id = l.id AND a.deactivated_at IS NULL) AS used,
       (SELECT count(*)::int FROM license_activations a WHERE a.license_id = l.id AND a.deactivation_reason = 'self'
          AND a.deactivated_at > now() - make_interval(days => $2)) AS transfers
     FROM licenses l WHERE l.id = $1`,
    [licenseId, TRANSFER_WINDOW_DAYS],
  );
  const r = rows[0];
  if (!r) throw new LicensingError("LICENSE_NOT_FOUND", "no such license");
  const policy = await deps.policies.get(r.tier);
  return {
    id: r.id,
    key_hint: r.key_hint,
    tier: r.tier,
    tier_name: policy.displayName,
    features: policy.features,
    limits: policy.limits,
    expires_at: r.expires_at ? (r.expires_at as Date).toISOString() : null,
    revoked: r.revoked,
    seats_used: r.used,
    seats_max: r.max_instances ?? policy.maxInstances,
    transfers_used: r.transfers,
    transfers_max: policy.transfersPer30Days,
  };
}

/** The devices holding a seat of the license now, most recent heartbeat first. */
export async function portalDevices(deps: PortalDeps, licenseId: string): Promise<PortalDevice[]> {
  const { rows } = await deps.pool.query(
    `SELECT a.instance_id, i.platform, i.version, a.activated_at, a.last_heartbeat_at, a.country
     FROM license_activations a JOIN instances i ON i.id = a.instance_id
     WHERE a.license_id = $1 AND a.deactivated_at IS NULL
     ORDER BY a.last_heartbeat_at DESC`,
    [licenseId],
  );
  return rows.map((r) => ({
    instance_id: r.instance_id,
    platform: r.platform,
    version: r.version,
    activated_at: (r.activated_at as Date).toISOString(),
    last_heartbeat_at: (r.last_heartbeat_at as Date).toISOString(),
    country: r.country,
  }));
}

/** DEVICE_NOT_FOUND unless the instance holds a live seat of the license. */
export async function requireDevice(deps: PortalDeps, licenseId: string, instanceId: string): Promise<void> {
  const { rows } = await deps.pool.query(
    `SELECT 1 FROM license_activations
     WHERE license_id = $1 AND instance_id::text = $2 AND deactivated_at IS NULL`,
    [licenseId, instanceId],
  );
  if (!rows[0]) throw new LicensingError("DEVICE_NOT_FOUND", "no active device of this license has this id");
}

/**
 * An offline license for one device: a lease signed like validate's (VALID, the license's tier, bound to
 * the seat's fingerprint), running for the tier's offline grace and never past the license's expiry,
 * recorded in the leases table like any other.
 */
export async function offlineLicense(
  deps: PortalDeps,
  licenseId: string,
  instanceId: string,
  now = new Date(),
): Promise<OfflineLicenseFile> {
  const { rows } = await deps.pool.query(
    `SELECT a.id AS activation_id, a.fingerprint_digest, l.license_key, l.tier, l.expires_at,
       COALESCE(l.is_revoked, false) AS revoked
     FROM license_activations a JOIN licenses l ON l.id = a.license_id
     WHERE a.license_id = $1 AND a.instance_id::text = $2 AND a.deactivated_at IS NULL`,
    [licenseId, instanceId],
  );
  const r = rows[0];
  if (!r) throw new LicensingError("DEVICE_NOT_FOUND", "no active device of this license has this id");
  const expiresAt = r.expires_at ? (r.expires_at as Date).getTime() : null;
  if (r.revoked || (expiresAt !== null && expiresAt <= now.getTime())) {
    throw new LicensingError("LICENSE_NOT_FOUND", "the license is revoked or expired");
  }
  const nonce = `offline-${randomBytes(16).toString("base64url")}`;
  const built = buildAnswer(deps.signer, {
    reason: "VALID",
    instanceId,
    nonce,
    license: { id: licenseId, keyHash: r.license_key, tier: r.tier, expiresAt, revoked: false },
    fingerprintDigest: r.fingerprint_digest,
    effective: await deps.policies.get(r.tier),
    now,
  });
  const lease = built.lease;
  if (!lease) throw new Error("a VALID answer always carries a lease");
  await deps.pool.query(
    `INSERT INTO leases (id, instance_id, license_id, activation_id, tier, reason, fingerprint_digest, nonce, kid,
       issued_at, not_after) VALUES ($1, $2, $3, $4, $5, 'VALID', $6, $7, $8, $9, $10)`,
    [
      lease.jti,
      instanceId,
      licenseId,
      r.activation_id,
      r.tier,
      r.fingerprint_digest,
      nonce,
      lease.kid,
      lease.issuedAt,
      lease.notAfter,
    ],
  );
  return {
    format: "smstats-offline-license/1",
    instance_id: instanceId,
    license_id: licenseId,
    nonce,
    lease: lease.token,
    lease_expires_at: lease.notAfter.toISOString(),
    issued_at: now.toISOString(),
  };
}

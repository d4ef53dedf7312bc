import type pg from "pg";
import { enqueueWebhookEvent } from "../../webhooks/events.ts";
import { LicensingError } from "../errors.ts";
import { isUuid, withTransaction } from "../instances/index.ts";
import type { PiiVault } from "../keys/index.ts";
import { hashLicenseKey, licenseKeyHint, newLicenseKey } from "../licenses/license-key.ts";
import type { SeatCache } from "../seats/index.ts";
import { type Actor, writeAudit } from "./audit-log.ts";

/** What issuing a license takes. */
export interface IssueInput {
  tier: string;
  ownerEmail: string;
  /** Expiry; null or undefined for a license that never expires. */
  expiresAt?: Date | null;
  /** Overrides the tier's seat count. */
  maxInstances?: number | null;
  billingPeriod?: "monthly" | "yearly" | "lifetime" | null;
  notes?: string | null;
}

/** A license as admins see it (never the key). */
export interface LicenseView {
  id: string;
  key_hint: string;
  tier: string;
  /** Opened from its sealed column; null once erased. */
  owner_email: string | null;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
  revoke_reason: string | null;
  revoked_at: string | null;
  max_instances: number;
  billing_period: string | null;
  notes: string | null;
  seats_used: number;
}

/** A license with its activations. */
export interface LicenseDetail extends LicenseView {
  activations: {
    id: string;
    instance_id: string;
    activated_at: string;
    /** The sealed address opened; null once retention purged it. */
    ip_address: string | null;
    country: string;
    user_agent: string | null;
    last_heartbeat_at: string;
    deactivated_at: string | null;
    deactivation_reason: string | null;
  }[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const VIEW = `SELECT l.id, l.key_hint, l.tier, l.owner_email_sealed, l.created_at, l.expires_at,
    COALESCE(l.is_revoked, false) AS revoked, l.revoke_reason, l.revoked_at,
    COALESCE(l.max_instances, p.max_instances) AS max_instances, l.billing_period, l.notes,
    (SELECT count(*)::int FROM license_activations a WHERE a.license_id = l.id AND a.deactivated_at IS NULL) AS seats_used
  FROM licenses l JOIN tier_policies p ON p.tier = l.tier`;

function view(vault: PiiVault, r: Record<string, unknown>): LicenseView {
  return {
    id: r.id as string,
    key_hint: r.key_hint as string,
    tier: r.tier as string,
    owner_email: vault.openEmail(r.owner_email_sealed as Buffer | null),
    created_at: (r.created_at as Date).toISOString(),
    expires_at: iso(r.expires_at as Date | null),
    revoked: r.revoked as boolean,
    revoke_reason: r.revoke_reason as string | null,
    revoked_at: iso(r.revoked_at as Date | null),
    max_instances: r.max_instances as number,
    billing_period: r.billing_period as string | null,
    notes: r.notes as string | null,
    seats_used: r.seats_used as number,
  };
}

/** A license as outgoing webhooks carry it: without the owner's email (receivers look it up by id). */
function webhookLicense(license: LicenseView): Omit<LicenseView, "owner_email"> {
  const { owner_email: _, ...rest } = license;
  return rest;
}

/**
 * Issues a license: the key is returned once and only its hash is stored; the owner's email is sealed,
 * with its blind index for lookups. Audited (without the email).
 */
export async function issueLicense(
  pool: pg.Pool,
  vault: PiiVault,
  actor: Actor,
  input: IssueInput,
): Promise<{ license: LicenseView; key: string }> {
  return withTransaction(pool, (c) => issueLicenseIn(c, vault, actor, input));
}

/** issueLicense inside the caller's transaction (payments issue a license with the event that paid for it). */
export async function issueLicenseIn(
  c: pg.ClientBase,
  vault: PiiVault,
  actor: Actor,
  input: IssueInput,
): Promise<{ license: LicenseView; key: string }> {
  // A tier is named by its id (party_host) or by the label its keys carry (PARTY, any case).
  const policy = await c.query(
    "SELECT tier, key_label FROM tier_policies WHERE tier = $1 OR key_label = upper($1)",
    [input.tier],
  );
  if (!policy.rows[0]) {
    const known = await c.query("SELECT tier, key_label FROM tier_policies ORDER BY rank");
    const names = known.rows.map((r) => `${r.tier} (${r.key_label.toLowerCase()})`).join(", ");
    throw new LicensingError("TIER_UNKNOWN", `unknown tier ${input.tier}; tiers: ${names}`);
  }
  const tier = policy.rows[0].tier as string;
  const key = newLicenseKey(policy.rows[0].key_label);
  const { rows } = await c.query(
    `INSERT INTO licenses (license_key, key_hint, tier, owner_email_sealed, owner_email_index, expires_at,
       max_instances, billing_period, notes)
     VALUES ($1, $2, $3, $4, $9, $5, $6, $7, $8) RETURNING id`,
    [
      hashLicenseKey(key),
      licenseKeyHint(key),
      tier,
      vault.sealEmail(input.ownerEmail),
      input.expiresAt ?? null,
      input.maxInstances ?? null,
      input.billingPeriod ?? null,
      input.notes ?? null,
      vault.emailIndex(input.ownerEmail),
    ],
  );
  const id = rows[0].id as string;
  const license = view(vault, (await c.query(`${VIEW} WHERE l.id = $1`, [id])).rows[0]);
  await writeAudit(
    c,
    actor,
    "license.issue",
    { type: "license", id },
    {
      tier: license.tier,
      expires_at: license.expires_at,
      max_instances: license.max_instances,
      key_hint: license.key_hint,
    },
  );
  await enqueueWebhookEvent(c, "license.created", { license: webhookLicense(license) });
  return { license, key };
}

/** Finds a license by id or by its full key. */
async function findLicenseId(db: pg.Pool | pg.ClientBase, ref: string): Promise<string | undefined> {
  const { rows } = isUuid(ref)
    ? await db.query("SELECT id FROM licenses WHERE id = $1", [ref])
    : await db.query("SELECT id FROM licenses WHERE license_key = $1", [hashLicenseKey(ref)]);
  return rows[0]?.id;
}

/**
 * Revokes a license. Its instances answer REVOKED from the next request on: the cached states of every
 * instance that ever held a seat of it are made stale after the commit (well within a second). Audited.
 */
export async function revokeLicense(
  pool: pg.Pool,
  vault: PiiVault,
  cache: SeatCache,
  actor: Actor,
  ref: string,
  reason: string,
): Promise<LicenseView> {
  const { license, instances } = await withTransaction(pool, async (c) => {
    const id = await findLicenseId(c, ref);
    if (!id) throw new LicensingError("LICENSE_NOT_FOUND", "no such license");
    return revokeLicenseIn(c, vault, actor, id, reason);
  });
  await cache.invalidate(instances);
  return license;
}

/**
 * revokeLicense inside the caller's transaction, by license id; the caller invalidates the returned
 * instances' cached states after its commit.
 */
export async function revokeLicenseIn(
  c: pg.ClientBase,
  vault: PiiVault,
  actor: Actor,
  id: string,
  reason: string,
): Promise<{ license: LicenseView; instances: string[] }> {
  const before = await c.query(
    "SELECT COALESCE(is_revoked, false) AS revoked FROM licenses WHERE id = $1 FOR UPDATE",
    [id],
  );
  await c.query(
    "UPDATE licenses SET is_revoked = true, revoke_reason = $2, revoked_at = COALESCE(revoked_at, now()) WHERE id = $1",
    [id, reason],
  );
  const seats = await c.query("SELECT DISTINCT instance_id FROM license_activations WHERE license_id = $1", [
    id,
  ]);
  const instances = seats.rows.map((r) => r.instance_id as string);
  await c.query(
    `UPDATE instances SET tier = 'starter' WHERE id IN (
       SELECT instance_id FROM license_activations WHERE license_id = $1 AND deactivated_at IS NULL)`,
    [id],
  );
  await writeAudit(
    c,
    actor,
    "license.revoke",
    { type: "license", id },
    {
      revoked: { from: before.rows[0].revoked, to: true },
      reason,
    },
  );
  const license = view(vault, (await c.query(`${VIEW} WHERE l.id = $1`, [id])).rows[0]);
  await enqueueWebhookEvent(c, "license.revoked", { license: webhookLicense(license), reason });
  return { license, instances };
}

/** One license with its activations (seats, live and ended). */
export async function showLicense(pool: pg.Pool, vault: PiiVault, ref: string): Promise<LicenseDetail> {
  const id = await findLicenseId(pool, ref);
  if (!id) throw new LicensingError("LICENSE_NOT_FOUND", "no such license");
  const license = view(vault, (await pool.query(`${VIEW} WHERE l.id = $1`, [id])).rows[0]);
  const { rows } = await pool.query(
    `SELECT id, instance_id, activated_at, ip_sealed, country, user_agent, last_heartbeat_at,
       deactivated_at, deactivation_reason
     FROM license_activations WHERE license_id = $1 ORDER BY activated_at`,
    [id],
  );
  return {
    ...license,
    activations: rows.map(({ ip_sealed, ...r }) => ({
      ...r,
      ip_address: vault.openAddress(ip_sealed),
      activated_at: r.activated_at.toISOString(),
      last_heartbeat_at: r.last_heartbeat_at.toISOString(),
      deactivated_at: iso(r.deactivated_at),
    })),
  };
}

/** Lists licenses, newest first, optionally by owner, tier or state. */
export async function listLicenses(
  pool: pg.Pool,
  vault: PiiVault,
  filter: { ownerEmail?: string; tier?: string; revoked?: boolean; limit?: number } = {},
): Promise<LicenseView[]> {
  const { rows } = await pool.query(
    `${VIEW} WHERE ($1::bytea IS NULL OR l.owner_email_index = $1) AND ($2::text IS NULL OR l.tier = $2)
       AND ($3::boolean IS NULL OR COALESCE(l.is_revoked, false) = $3)
     ORDER BY l.created_at DESC LIMIT $4`,
    [
      filter.ownerEmail ? vault.emailIndex(filter.ownerEmail) : null,
      filter.tier ?? null,
      filter.revoked ?? null,
      Math.min(filter.limit ?? 100, 1000),
    ],
  );
  return rows.map((r) => view(vault, r));
}

/**
 * Moves a license's expiry later (the console's "extend"): to `expiresAt`, or `days` past the later of now
 * and the current expiry. Audited with the old and new expiry; its instances' cached seat state is dropped,
 * so they see the new expiry on their next request.
 */
export async function extendLicense(
  pool: pg.Pool,
  vault: PiiVault,
  cache: SeatCache,
  actor: Actor,
  ref: string,
  by: { expiresAt: Date } | { days: number },
): Promise<LicenseView> {
  const { license, instances } = await withTransaction(pool, async (c) => {
    const id = await findLicenseId(c, ref);
    if (!id) throw new LicensingError("LICENSE_NOT_FOUND", "no such license");
    const before = await c.query("SELECT expires_at FROM licenses WHERE id = $1 FOR UPDATE", [id]);
    const current = before.rows[0].expires_at as Date | null;
    const expiresAt =
      "expiresAt" in by
        ? by.expiresAt
        : new Date(Math.max(Date.now(), current?.getTime() ?? 0) + by.days * 86_400_000);
    if (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now()) {
      throw new LicensingError("EXPIRY_INVALID", "the new expiry must lie in the future");
    }
    await c.query("UPDATE licenses SET expires_at = $2 WHERE id = $1", [id, expiresAt]);
    const seats = await c.query(
      "SELECT instance_id FROM license_activations WHERE license_id = $1 AND deactivated_at IS NULL",
      [id],
    );
    await writeAudit(
      c,
      actor,
      "license.extend",
      { type: "license", id },
      { expires_at: { from: iso(current), to: expiresAt.toISOString() } },
    );
    return {
      license: view(vault, (await c.query(`${VIEW} WHERE l.id = $1`, [id])).rows[0]),
      instances: seats.rows.map((r) => r.instance_id as string),
    };
  });
  await cache.invalidate(instances);
  return license;
}

import type pg from "pg";
import { enqueueWebhookEvent } from "../../webhooks/events.ts";
import { LicensingError } from "../errors.ts";
import { isUuid, revokeRefreshTokens, withTransaction } from "../instances/index.ts";
import type { PiiVault } from "../keys/index.ts";
import type { SeatCache } from "../seats/index.ts";
import { type Actor, writeAudit } from "./audit-log.ts";

/** An instance as admins see it. */
export interface InstanceView {
  id: string;
  hwid: string;
  platform: string | null;
  version: string | null;
  owner_email: string | null;
  tier: string;
  registered_at: string;
  last_seen_at: string | null;
  banned: boolean;
  ban_reason: string | null;
  banned_at: string | null;
  seat: {
    activation_id: string;
    license_id: string;
    key_hint: string;
    activated_at: string;
    last_heartbeat_at: string;
    fingerprint_digest: string | null;
    components: string[];
  } | null;
  bans: { kind: string; value: string; reason: string; actor: string; created_at: string }[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** One instance with its live seat and the bans that apply to it. */
export async function showInstance(
  pool: pg.Pool | pg.ClientBase,
  vault: PiiVault,
  id: string,
): Promise<InstanceView> {
  if (!isUuid(id)) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const { rows } = await pool.query(
    `SELECT i.id, i.hwid, i.platform, i.version, i.owner_email_sealed, i.tier, i.registered_at, i.last_seen_at,
       COALESCE(i.is_banned, false) AS banned, i.ban_reason, i.banned_at,
       a.id AS activation_id, a.license_id, l.key_hint, a.activated_at, a.last_heartbeat_at, a.fingerprint_digest,
       (SELECT COALESCE(array_agg(component ORDER BY component), '{}') FROM activation_components
          WHERE activation_id = a.id) AS components
     FROM instances i
     LEFT JOIN license_activations a ON a.instance_id = i.id AND a.deactivated_at IS NULL
     LEFT JOIN licenses l ON l.id = a.license_id
     WHERE i.id = $1`,
    [id],
  );
  const r = rows[0];
  if (!r) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const bans = await pool.query(
    `SELECT kind, value, reason, actor, created_at FROM bans
     WHERE lifted_at IS NULL AND ((kind = 'hwid' AND value = $1) OR (kind = 'fingerprint' AND value = $2))`,
    [r.hwid, r.fingerprint_digest],
  );
  return {
    id: r.id,
    hwid: r.hwid,
    platform: r.platform,
    version: r.version,
    owner_email: vault.openEmail(r.owner_email_sealed),
    tier: r.tier,
    registered_at: r.registered_at.toISOString(),
    last_seen_at: iso(r.last_seen_at),
    banned: r.banned,
    ban_reason: r.ban_reason,
    banned_at: iso(r.banned_at),
    seat: r.activation_id
      ? {
          activation_id: r.activation_id,
          license_id: r.license_id,
          key_hint: r.key_hint,
          activated_at: r.activated_at.toISOString(),
          last_heartbeat_at: r.last_heartbeat_at.toISOString(),
          fingerprint_digest: r.fingerprint_digest,
          components: r.components,
        }
      : null,
    bans: bans.rows.map((b) => ({ ...b, created_at: b.created_at.toISOString() })),
  };
}

/**
 * Bans an instance and its hwid (it cannot register again), optionally its machine fingerprint too (no
 * instance on that machine can activate), and revokes its refresh tokens. Validation answers BANNED from
 * the next request on. Audited.
 */
export async function banInstanceByAdmin(
  pool: pg.Pool,
  vault: PiiVault,
  cache: SeatCache,
  actor: Actor,
  id: string,
  opts: { reason: string; fingerprint?: boolean },
): Promise<InstanceView> {
  if (!isUuid(id)) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const { view, touched } = await withTransaction(pool, async (c) => {
    const before = await showInstance(c, vault, id);
    await c.query("UPDATE instances SET is_banned = true, ban_reason = $2, banned_at = now() WHERE id = $1", [
      id,
      opts.reason,
    ]);
    await c.query(
      `INSERT INTO bans (kind, value, reason, actor) VALUES ('hwid', $1, $2, $3)
       ON CONFLICT (kind, value) WHERE lifted_at IS NULL DO NOTHING`,
      [before.hwid, opts.reason, actor.name],
    );
    const touched = new Set([id]);
    const digest = before.seat?.fingerprint_digest;
    if (opts.fingerprint && digest) {
      await c.query(
        `INSERT INTO bans (kind, value, reason, actor) VALUES ('fingerprint', $1, $2, $3)
         ON CONFLICT (kind, value) WHERE lifted_at IS NULL DO NOTHING`,
        [digest, opts.reason, actor.name],
      );
      const same = await c.query(
        "SELECT DISTINCT instance_id FROM license_activations WHERE fingerprint_digest = $1",
        [digest],
      );
      for (const s of same.rows) touched.add(s.instance_id);
    }
    const tokens = await revokeRefreshTokens(c, id);
    await writeAudit(
      c,
      actor,
      "instance.ban",
      { type: "instance", id },
      {
        banned: { from: before.banned, to: true },
        reason: opts.reason,
        hwid_banned: true,
        fingerprint_banned: Boolean(opts.fingerprint && digest),
        refresh_tokens_revoked: tokens,
      },
    );
    await enqueueWebhookEvent(c, "instance.banned", { instance_id: id, reason: opts.reason });
    return { view: await showInstance(c, vault, id), touched };
  });
  await cache.invalidate(touched);
  return view;
}

/** Lifts an instance's ban, its hwid's and its fingerprint's. Audited. */
export async function unbanInstanceByAdmin(
  pool: pg.Pool,
  vault: PiiVault,
  cache: SeatCache,
  actor: Actor,
  id: string,
  reason: string,
): Promise<InstanceView> {
  if (!isUuid(id)) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const { view, touched } = await withTransaction(pool, async (c) => {
    const before = await showInstance(c, vault, id);
    await c.query(
      "UPDATE instances SET is_banned = false, ban_reason = NULL, banned_at = NULL WHERE id = $1",
      [id],
    );
    const lifted = await c.query(
      `UPDATE bans SET lifted_at = now(), lifted_by = $3
       WHERE lifted_at IS NULL AND ((kind = 'hwid' AND value = $1) OR (kind = 'fingerprint' AND value = $2))
       RETURNING kind, value`,
      [before.hwid, before.seat?.fingerprint_digest ?? null, actor.name],
    );
    const touched = new Set([id]);
    for (const b of lifted.rows.filter((x) => x.kind === "fingerprint")) {
      const same = await c.query(
        "SELECT DISTINCT instance_id FROM license_activations WHERE fingerprint_digest = $1",
        [b.value],
      );
      for (const s of same.rows) touched.add(s.instance_id);
    }
    await writeAudit(
      c,
      actor,
      "instance.unban",
      { type: "instance", id },
      {
        banned: { from: before.banned, to: false },
        reason,
        bans_lifted: lifted.rows.map((b) => b.kind),
      },
    );
    return { view: await showInstance(c, vault, id), touched };
  });
  await cache.invalidate(touched);
  return view;
}

import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { LicensingError } from "../errors.ts";
import { withTransaction } from "../instances/index.ts";
import { type Actor, writeAudit } from "./audit-log.ts";

/** Every scope an admin token may carry. */
export const ADMIN_SCOPES = [
  "licenses:read",
  "licenses:write",
  "instances:read",
  "instances:write",
  "audit:read",
  "stats:read",
  "webhooks:read",
  "webhooks:write",
] as const;

/** One admin scope. */
export type AdminScope = (typeof ADMIN_SCOPES)[number];

/** A verified admin token's identity. */
export interface AdminPrincipal {
  id: string;
  name: string;
  scopes: AdminScope[];
}

const PREFIX = "smadm_";
const SHAPE = /^smadm_[A-Za-z0-9_-]{43}$/;
const hash = (token: string) => createHash("sha256").update(token, "utf8").digest();

/** Creates an admin token (shown once; stored as sha256) and audits it. */
export async function createAdminToken(
  pool: pg.Pool,
  actor: Actor,
  input: { name: string; scopes: AdminScope[]; expiresAt?: Date | null },
): Promise<{ id: string; token: string; expiresAt: Date | null }> {
  const bad = input.scopes.filter((s) => !(ADMIN_SCOPES as readonly string[]).includes(s));
  if (bad.length || input.scopes.length === 0) {
    throw new LicensingError("ADMIN_SCOPE_MISSING", `unknown or no scopes: ${bad.join(", ") || "(none)"}`);
  }
  const token = `${PREFIX}${randomBytes(32).toString("base64url")}`;
  return withTransaction(pool, async (c) => {
    const { rows } = await c.query(
      `INSERT INTO admin_tokens (name, token_hash, scopes, created_by, expires_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING id`,
      [input.name, hash(token), input.scopes, actor.name, input.expiresAt ?? null],
    );
    const id = rows[0].id as string;
    await writeAudit(
      c,
      actor,
      "admin_token.create",
      { type: "admin_token", id },
      {
        name: input.name,
        scopes: input.scopes,
        expires_at: input.expiresAt?.toISOString() ?? null,
      },
    );
    return { id, token, expiresAt: input.expiresAt ?? null };
  });
}

/** Revokes an admin token; false when unknown or already revoked. */
export async function revokeAdminToken(pool: pg.Pool, actor: Actor, id: string): Promise<boolean> {
  return withTransaction(pool, async (c) => {
    const { rowCount } = await c.query(
      "UPDATE admin_tokens SET revoked_at = now() WHERE id::text = $1 AND revoked_at IS NULL",
      [id],
    );
    if (!rowCount) return false;
    await writeAudit(c, actor, "admin_token.revoke", { type: "admin_token", id }, {});
    return true;
  });
}

/** Lists admin tokens (never their secrets). */
export async function listAdminTokens(pool: pg.Pool) {
  const { rows } = await pool.query(
    `SELECT id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at
     FROM admin_tokens ORDER BY created_at`,
  );
  return rows;
}

/** The stored hash of an admin token (what a console session keeps instead of the token). */
export const adminTokenHash = (token: string): Buffer => hash(token);

/** The principal of a presented admin token, or ADMIN_TOKEN_INVALID (unknown, revoked, expired). */
export async function verifyAdminToken(pool: pg.Pool, token: string | undefined): Promise<AdminPrincipal> {
  if (!token || !SHAPE.test(token)) throw new LicensingError("ADMIN_TOKEN_INVALID", "no valid admin token");
  return verifyAdminTokenHash(pool, hash(token));
}

/**
 * The principal of an admin token by its stored hash (a console session's), checked afresh on every
 * request so a revoked or expired token ends its sessions at once.
 */
export async function verifyAdminTokenHash(pool: pg.Pool, tokenHash: Buffer): Promise<AdminPrincipal> {
  const { rows } = await pool.query(
    `UPDATE admin_tokens SET last_used_at = now()
     WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
     RETURNING id, name, scopes`,
    [tokenHash],
  );
  const r = rows[0];
  if (!r) throw new LicensingError("ADMIN_TOKEN_INVALID", "unknown, revoked or expired admin token");
  return { id: r.id, name: r.name, scopes: r.scopes };
}

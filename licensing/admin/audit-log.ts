import type pg from "pg";
import type { PiiVault } from "../keys/index.ts";

/** Who performs an admin action, and through what. */
export interface Actor {
  /** "cli:<os user>" or "token:<token name>". */
  name: string;
  source: "cli" | "api";
  /** The admin's address, sealed (PiiVault.sealAddress); API requests only. */
  ipSealed?: Buffer;
}

/** One audit entry. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  changes: Record<string, unknown>;
  source: string;
  ip: string | null;
}

/** Writes an audit row inside the caller's transaction, so an action and its record commit together. */
export async function writeAudit(
  db: pg.ClientBase,
  actor: Actor,
  action: string,
  target: { type: string; id: string },
  changes: Record<string, unknown>,
): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (actor, action, target_type, target_id, changes, source, ip_sealed)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [actor.name, action, target.type, target.id, changes, actor.source, actor.ipSealed ?? null],
  );
}

/** Reads the audit log, newest first; addresses are opened with the vault (null without one). */
export async function listAudit(
  db: pg.Pool,
  filter: { targetType?: string; targetId?: string; action?: string; limit?: number } = {},
  vault?: PiiVault,
): Promise<AuditEntry[]> {
  const { rows } = await db.query(
    `SELECT id::int AS id, at, actor, action, target_type, target_id, changes, source, ip_sealed
     FROM audit_log
     WHERE ($1::text IS NULL OR target_type = $1) AND ($2::text IS NULL OR target_id = $2)
       AND ($3::text IS NULL OR action = $3)
     ORDER BY id DESC LIMIT $4`,
    [
      filter.targetType ?? null,
      filter.targetId ?? null,
      filter.action ?? null,
      Math.min(filter.limit ?? 100, 1000),
    ],
  );
  return rows.map(({ ip_sealed, ...r }) => ({
    ...r,
    at: (r.at as Date).toISOString(),
    ip: vault && ip_sealed ? vault.openAddress(ip_sealed) : null,
  }));
}

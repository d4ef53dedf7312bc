import type pg from "pg";
import type { Config } from "../../lib/config/index.ts";

const DAY_MS = 86_400_000;

/** What retention did (or would do, dry) to one PostgreSQL table. */
export interface PostgresRetentionItem {
  store: "postgres";
  table: string;
  /** delete: rows go; purge_address: the sealed client address is set to null, the row stays. */
  action: "delete" | "purge_address";
  /** Rows deleted or purged (dry run: that would be). */
  rows: number;
  /** Rows older than this (ISO) were affected. */
  cutoff: string;
}

type Retention = Config["retention"]["postgres"];

// One rule per table, in the order a support desk would explain them. Each counts (dry) or acts on rows
// older than its cutoff, through the indexes of licensing migration 0008.
const RULES: {
  table: string;
  action: PostgresRetentionItem["action"];
  days: (r: Retention) => number;
  count: string;
  run: string;
}[] = [
  {
    table: "license_activations",
    action: "purge_address",
    days: (r) => r.activationAddressDays,
    count:
      "SELECT count(*)::int AS n FROM license_activations WHERE ip_sealed IS NOT NULL AND activated_at < $1",
    run: "UPDATE license_activations SET ip_sealed = NULL WHERE ip_sealed IS NOT NULL AND activated_at < $1",
  },
  {
    table: "leases",
    action: "delete",
    days: (r) => r.leaseDays,
    count: "SELECT count(*)::int AS n FROM leases WHERE not_after < $1",
    run: "DELETE FROM leases WHERE not_after < $1",
  },
  {
    table: "refresh_tokens",
    action: "delete",
    days: (r) => r.refreshTokenDays,
    count: "SELECT count(*)::int AS n FROM refresh_tokens WHERE expires_at < $1",
    run: "DELETE FROM refresh_tokens WHERE expires_at < $1",
  },
  {
    table: "abuse_flags",
    action: "delete",
    days: (r) => r.abuseFlagDays,
    count: "SELECT count(*)::int AS n FROM abuse_flags WHERE created_at < $1",
    run: "DELETE FROM abuse_flags WHERE created_at < $1",
  },
  {
    // The audit log is append-only for the service's role: its one way out is purge_audit_log (0008).
    table: "audit_log",
    action: "delete",
    days: (r) => r.auditDays,
    count: "SELECT purge_audit_log($1, true)::int AS n",
    run: "SELECT purge_audit_log($1, false)::int AS n",
  },
];

/**
 * Deletes (or, for activations, strips the sealed address from) PostgreSQL rows past their retention:
 * activation addresses, leases, refresh tokens, abuse flags and the audit log. With dryRun it only
 * counts. Safe to run from several processes at once: each statement is one idempotent DELETE/UPDATE.
 */
export async function runPostgresRetention(
  pool: pg.Pool,
  retention: Retention,
  opts: { now?: number; dryRun?: boolean } = {},
): Promise<PostgresRetentionItem[]> {
  const now = opts.now ?? Date.now();
  const out: PostgresRetentionItem[] = [];
  for (const rule of RULES) {
    const cutoff = new Date(now - rule.days(retention) * DAY_MS);
    let rows: number;
    if (opts.dryRun) {
      rows = (await pool.query<{ n: number }>(rule.count, [cutoff])).rows[0]?.n ?? 0;
    } else {
      const res = await pool.query<{ n: number }>(rule.run, [cutoff]);
      rows = rule.table === "audit_log" ? (res.rows[0]?.n ?? 0) : (res.rowCount ?? 0);
    }
    out.push({
      store: "postgres",
      table: rule.table,
      action: rule.action,
      rows,
      cutoff: cutoff.toISOString(),
    });
  }
  return out;
}

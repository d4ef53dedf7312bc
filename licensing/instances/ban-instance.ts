import type pg from "pg";
import { isUuid } from "./instance-id.ts";
import { revokeRefreshTokens } from "./refresh-instance-token.ts";
import { withTransaction } from "./transaction.ts";

/**
 * Bans an instance without audit or cache invalidation (a building block; admins use banInstanceByAdmin,
 * which audits, bans the hwid and makes validation answer BANNED at once): it can no longer register or
 * refresh, and its refresh tokens are revoked. Tokens
 * already issued stay valid until they expire (at most an hour), so ingest checks the ban itself through
 * loadInstanceAuth. Returns false for an unknown instance.
 */
export async function banInstance(pool: pg.Pool, instanceId: string, reason: string): Promise<boolean> {
  if (!isUuid(instanceId)) return false;
  return withTransaction(pool, async (client) => {
    const { rowCount } = await client.query(
      "UPDATE instances SET is_banned = true, ban_reason = $2 WHERE id = $1",
      [instanceId, reason],
    );
    if (!rowCount) return false;
    await revokeRefreshTokens(client, instanceId);
    return true;
  });
}

/**
 * Lifts an instance's ban; it registers again to get new credentials. Returns false for an unknown
 * instance. (Who lifted it and why goes to the audit log, which comes with the admin API.)
 */
export async function unbanInstance(pool: pg.Pool, instanceId: string): Promise<boolean> {
  if (!isUuid(instanceId)) return false;
  const { rowCount } = await pool.query(
    "UPDATE instances SET is_banned = false, ban_reason = NULL WHERE id = $1",
    [instanceId],
  );
  return (rowCount ?? 0) > 0;
}

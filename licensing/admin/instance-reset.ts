import type pg from "pg";
import { LicensingError } from "../errors.ts";
import { isUuid, revokeRefreshTokens, withTransaction } from "../instances/index.ts";
import type { PiiVault } from "../keys/pii-vault.ts";
import type { SeatCache } from "../seats/index.ts";
import { type Actor, writeAudit } from "./audit-log.ts";
import { type InstanceView, showInstance } from "./instance-admin.ts";

/**
 * Resets an instance's registration for an owner who lost every credential (secret, refresh token) and
 * has no license key on it: its signing secret and refresh tokens are removed, so every credential out
 * there stops working at once (its tokens answer INSTANCE_UNKNOWN), and the next registration of its hwid
 * claims the instance, its data and seat, without proof. Audited; bans are untouched (a banned hwid stays
 * refused).
 */
export async function resetInstanceRegistration(
  pool: pg.Pool,
  vault: PiiVault,
  cache: SeatCache,
  actor: Actor,
  id: string,
  reason: string,
): Promise<InstanceView> {
  if (!isUuid(id)) throw new LicensingError("INSTANCE_NOT_FOUND", "no such instance");
  const view = await withTransaction(pool, async (c) => {
    const before = await showInstance(c, vault, id);
    const removed = await c.query("DELETE FROM instance_credentials WHERE instance_id = $1", [id]);
    const tokens = await revokeRefreshTokens(c, id);
    await writeAudit(
      c,
      actor,
      "instance.reset_registration",
      { type: "instance", id },
      {
        reason,
        signing_secret_removed: (removed.rowCount ?? 0) > 0,
        refresh_tokens_revoked: tokens,
        banned: before.banned,
      },
    );
    return showInstance(c, vault, id);
  });
  // Every ingest process drops the instance's identity (published), so its old tokens stop at once.
  await cache.invalidate([id]);
  return view;
}

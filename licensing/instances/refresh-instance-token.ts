import type pg from "pg";
import { LicensingError } from "../errors.ts";
import type { KeyRing } from "../keys/index.ts";
import { hashRefreshToken, isRefreshTokenShape } from "../tokens/index.ts";
import { type IssuedTokens, issueTokens, type TokenLifetimes } from "./issue-tokens.ts";
import { withTransaction } from "./transaction.ts";

/** New tokens for an instance, from a refresh. */
export interface Refreshed extends IssuedTokens {
  instanceId: string;
  tier: string;
}

type Outcome =
  | { ok: true; value: Refreshed }
  | { ok: false; code: "REFRESH_INVALID" | "INSTANCE_BANNED"; message: string };

/** Marks every live refresh token of an instance used, so none of them can be exchanged any more. */
export async function revokeRefreshTokens(db: pg.ClientBase | pg.Pool, instanceId: string): Promise<number> {
  const { rowCount } = await db.query(
    "UPDATE refresh_tokens SET used_at = now() WHERE instance_id = $1 AND used_at IS NULL",
    [instanceId],
  );
  return rowCount ?? 0;
}

/**
 * Exchanges a refresh token for a new instance token and a new refresh token; the presented one is used
 * up. Presenting a used one again means it was copied (the instance or a thief holds a newer one), so every
 * refresh token of that instance is revoked and the instance must register again (reuse detection, as in
 * OAuth 2.0 Security BCP §4.14). Unknown, used or expired → REFRESH_INVALID; banned → INSTANCE_BANNED.
 */
export async function refreshInstanceToken(
  pool: pg.Pool,
  ring: KeyRing,
  refreshToken: string,
  opts: TokenLifetimes = {},
): Promise<Refreshed> {
  if (!isRefreshTokenShape(refreshToken)) {
    throw new LicensingError("REFRESH_INVALID", "the refresh token is unknown, used or expired");
  }
  const now = opts.now ?? new Date();
  const hash = hashRefreshToken(refreshToken);
  // The transaction commits whatever it decided (a token used up, a family revoked) before the error is
  // thrown: a revocation rolled back with the error would protect nothing.
  const outcome = await withTransaction(pool, async (client): Promise<Outcome> => {
    const invalid: Outcome = {
      ok: false,
      code: "REFRESH_INVALID",
      message: "the refresh token is unknown, used or expired",
    };
    // The row lock makes this one-time: of two concurrent exchanges, the second finds used_at set.
    const used = await client.query<{ instance_id: string }>(
      `UPDATE refresh_tokens SET used_at = $2
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
       RETURNING instance_id`,
      [hash, now],
    );
    const token = used.rows[0];
    if (!token) {
      // Expired or unknown: just invalid. Already used: a replay, so the whole family goes.
      const replayed = await client.query<{ instance_id: string }>(
        "SELECT instance_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL",
        [hash],
      );
      const instanceId = replayed.rows[0]?.instance_id;
      if (instanceId) await revokeRefreshTokens(client, instanceId);
      return invalid;
    }
    const instance = await client.query<{ tier: string; banned: boolean }>(
      "SELECT tier, COALESCE(is_banned, false) AS banned FROM instances WHERE id = $1",
      [token.instance_id],
    );
    const row = instance.rows[0];
    if (!row) return invalid;
    if (row.banned) return { ok: false, code: "INSTANCE_BANNED", message: "this instance is banned" };
    const tokens = await issueTokens(
      client,
      ring,
      { instanceId: token.instance_id, tier: row.tier },
      { ...opts, now },
    );
    return { ok: true, value: { ...tokens, instanceId: token.instance_id, tier: row.tier } };
  });
  if (!outcome.ok) throw new LicensingError(outcome.code, outcome.message);
  return outcome.value;
}

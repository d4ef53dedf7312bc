import type pg from "pg";
import type { KeyRing } from "../keys/index.ts";
import {
  DEFAULT_REFRESH_TTL_SECONDS,
  DEFAULT_TOKEN_TTL_SECONDS,
  hashRefreshToken,
  issueInstanceToken,
  newRefreshToken,
  type TokenSubject,
  tokenExpiresAt,
} from "../tokens/index.ts";

/** Lifetimes and clock of what registration and refresh issue. */
export interface TokenLifetimes {
  /** Instance token lifetime in seconds; default 3600. */
  tokenTtlSeconds?: number;
  /** Refresh token lifetime in seconds; default 30 days. */
  refreshTtlSeconds?: number;
  /** The issue time; default now. */
  now?: Date;
}

/** An instance token and the refresh token that replaces it. */
export interface IssuedTokens {
  instanceToken: string;
  tokenExpiresAt: Date;
  /** Opaque, one-time; only its hash is stored. */
  refreshToken: string;
  refreshExpiresAt: Date;
}

/** Stores a new refresh token for the instance (inside the caller's transaction) and signs a new token. */
export async function issueTokens(
  client: pg.ClientBase,
  ring: KeyRing,
  subject: TokenSubject,
  opts: TokenLifetimes,
): Promise<IssuedTokens> {
  const now = opts.now ?? new Date();
  const tokenTtl = opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const refreshToken = newRefreshToken();
  const refreshExpiresAt = new Date(
    now.getTime() + (opts.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS) * 1000,
  );
  await client.query(
    "INSERT INTO refresh_tokens (token_hash, instance_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
    [hashRefreshToken(refreshToken), subject.instanceId, refreshExpiresAt, now],
  );
  return {
    instanceToken: await issueInstanceToken(ring, subject, { ttlSeconds: tokenTtl, now }),
    tokenExpiresAt: tokenExpiresAt(now, tokenTtl),
    refreshToken,
    refreshExpiresAt,
  };
}

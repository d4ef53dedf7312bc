import { createHash, randomBytes } from "node:crypto";

/** Default lifetime of a refresh token, in seconds (30 days). */
export const DEFAULT_REFRESH_TTL_SECONDS = 30 * 86_400;

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A new opaque refresh token: 32 random bytes, base64url (43 characters). */
export function newRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether a string has the shape of a refresh token (checked before any database lookup). */
export function isRefreshTokenShape(token: string): boolean {
  return REFRESH_TOKEN.test(token);
}

/**
 * The stored form of a refresh token: its sha256. 256 random bits need no salt or slow hash, and a leaked
 * table gives nothing that can be presented.
 */
export function hashRefreshToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

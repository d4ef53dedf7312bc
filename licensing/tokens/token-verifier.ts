import { createHash } from "node:crypto";
import { LicensingError } from "../errors.ts";
import type { KeyRing } from "../keys/index.ts";
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  type InstanceTokenClaims,
  verifyInstanceToken,
} from "./instance-token.ts";

/** Options of createTokenVerifier. */
export interface TokenVerifierOptions {
  /** Most verified tokens remembered (least recently used ones go first); 0 disables the cache. Default 10000. */
  cacheSize?: number;
  /** Seconds of clock skew accepted on "exp"; default 30. */
  clockToleranceSec?: number;
  /** The clock; default the system's. */
  clock?: () => Date;
}

/** Verifies instance tokens, remembering verified ones until they expire. */
export interface TokenVerifier {
  /** The token's claims, or a LicensingError with a TOKEN_* code (see verifyInstanceToken). */
  verify(token: string | undefined): Promise<Readonly<InstanceTokenClaims>>;
  /** Tokens currently cached. */
  readonly size: number;
}

interface Entry {
  claims: Readonly<InstanceTokenClaims>;
  exp: number;
}

/**
 * A token verifier for the hot path: an instance sends the same token with every batch for an hour, so
 * after the first signature check (~0.2 ms with Ed25519 on Node 20) a token is looked up, not verified.
 * A cached token is still rejected once it expires. A Map keeps insertion order, which makes it an LRU:
 * a hit is moved to the end, the first key is the one to evict. Entries are keyed by the token's
 * SHA-256, so the process's memory holds no usable token (a heap dump gives nothing to replay), and the
 * claims cached carry only what the token said: whatever must follow the database (tier for rate limits,
 * bans) is looked up apart from it.
 */
export function createTokenVerifier(ring: KeyRing, opts: TokenVerifierOptions = {}): TokenVerifier {
  const cacheSize = opts.cacheSize ?? 10_000;
  const tolerance = opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const clock = opts.clock ?? (() => new Date());
  const cache = new Map<string, Entry>();
  return {
    async verify(token) {
      const now = clock();
      const key = token ? createHash("sha256").update(token).digest("base64url") : undefined;
      const hit = key ? cache.get(key) : undefined;
      if (key && hit) {
        cache.delete(key);
        // The same rule as jose's: expired once exp <= now - tolerance, in whole seconds.
        if (hit.exp <= Math.floor(now.getTime() / 1000) - tolerance) {
          throw new LicensingError("TOKEN_EXPIRED", "the instance token has expired");
        }
        cache.set(key, hit);
        return hit.claims;
      }
      const claims = Object.freeze(
        await verifyInstanceToken(ring, token, { now, clockToleranceSec: tolerance }),
      );
      if (key && cacheSize > 0) {
        cache.set(key, { claims, exp: claims.exp });
        if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
      }
      return claims;
    },
    get size() {
      return cache.size;
    },
  };
}

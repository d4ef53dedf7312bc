import { verify } from "node:crypto";
import { type KeyStore, LEASE_AUDIENCE, LEASE_TYPE, VerifyError } from "./signed-answer.ts";

/** Enforcement carried on a lease. */
export interface LeaseEnforcement {
  /** strict: paid features need a valid lease; graceful: never blocks (free tier). */
  mode: "strict" | "graceful";
  /** How long the instance may run on this lease without reaching the server (offline mode). */
  offline_grace_seconds: number;
  /** What the instance becomes once the lease or the license expires. */
  on_expiry: "starter";
}

/** The claims of a lease: what an instance may do, until when, on which machine. */
export interface LeaseClaims {
  iss: string;
  aud: typeof LEASE_AUDIENCE;
  /** Instance id. */
  sub: string;
  jti: string;
  iat: number;
  /** Not after (unix seconds); never later than the license's expiry. */
  exp: number;
  /** License id, or null for the free tier. */
  lic: string | null;
  tier: string;
  features: string[];
  limits: Record<string, number | null>;
  enforcement: LeaseEnforcement;
  /** Digest of the fingerprint the seat is bound to, or null without a seat. */
  fp: string | null;
  /** What fp binds: the machine's fingerprint, or only its registered hwid (the design's body); absent in old leases. */
  bind?: "fingerprint" | "hwid" | "none";
  /** The client's nonce of the request that produced this lease. */
  nonce: string;
  /** The validation's reason code (VALID, EXPIRED, …). */
  reason: string;
  /** The license's expiry (unix seconds), or null when it has none. */
  license_exp: number | null;
}

function b64json(part: string): unknown {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

/**
 * Verifies a lease offline with the published keys: Ed25519 signature, type, audience, the instance, the
 * nonce the instance sent (so a lease recorded for another request is refused) and the time window.
 * Pass `nonce: undefined` only when re-checking a cached lease at start-up.
 */
export function verifyLease(
  keys: KeyStore,
  lease: string,
  expect: { instanceId: string; nonce: string | undefined; now?: Date; clockToleranceSeconds?: number },
): LeaseClaims {
  const parts = lease.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw new VerifyError("LEASE_MALFORMED", "a lease is a compact JWS");
  }
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string; kid?: string; typ?: string };
  let claims: LeaseClaims;
  try {
    header = b64json(h) as typeof header;
    claims = b64json(p) as LeaseClaims;
  } catch {
    throw new VerifyError("LEASE_MALFORMED", "the lease does not decode");
  }
  if (header.alg !== "EdDSA" || header.typ !== LEASE_TYPE || !header.kid) {
    throw new VerifyError("LEASE_MALFORMED", "not an EdDSA lease");
  }
  if (!verify(null, Buffer.from(`${h}.${p}`, "ascii"), keys.get(header.kid), Buffer.from(s, "base64url"))) {
    throw new VerifyError("BAD_SIGNATURE", "the lease's signature does not match");
  }
  if (claims.aud !== LEASE_AUDIENCE)
    throw new VerifyError("LEASE_MALFORMED", "the lease is not for instances");
  if (claims.sub !== expect.instanceId) {
    throw new VerifyError("INSTANCE_MISMATCH", "the lease was issued to another instance");
  }
  if (expect.nonce !== undefined && claims.nonce !== expect.nonce) {
    throw new VerifyError("NONCE_MISMATCH", "the lease answers another request (nonce differs)");
  }
  const now = Math.floor((expect.now ?? new Date()).getTime() / 1000);
  const tolerance = expect.clockToleranceSeconds ?? 300;
  if (claims.exp <= now) throw new VerifyError("LEASE_EXPIRED", "the lease has expired");
  if (claims.iat > now + tolerance)
    throw new VerifyError("LEASE_NOT_YET_VALID", "the lease is from the future");
  return claims;
}

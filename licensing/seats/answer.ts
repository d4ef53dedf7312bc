import type { LeaseEnforcement } from "../client/index.ts";
import type { TierPolicy } from "../policies/index.ts";
import type { AnswerSigner, SignedLease } from "../signing/index.ts";
import { type ReasonCode, STOPPING_REASONS } from "./decide.ts";
import type { SeatLicense } from "./seat-state.ts";

/** The body of validate, activate and heartbeat answers (the seed's fields plus reason, nonce and lease). */
export interface LicenseAnswerBody {
  valid: boolean;
  reason: ReasonCode;
  message: string;
  /** The tier the instance runs as now (Starter unless the license is VALID). */
  tier: string;
  /** The license's own tier, when the instance has a license. */
  license_tier: string | null;
  license_id: string | null;
  /** The license's expiry, ISO 8601, or null. */
  expires: string | null;
  features: string[];
  limits: Record<string, number | null>;
  enforcement: LeaseEnforcement;
  instance_id: string;
  nonce: string;
  /** Ed25519-signed lease (JWS), or null when the instance must stop (BANNED, REVOKED). */
  lease: string | null;
  lease_expires_at: string | null;
  issued_at: string;
  /** What the answer and its lease are bound to (see AnswerBinding). */
  binding: AnswerBinding;
}

/**
 * What an answer is bound to. lease: "fingerprint" (the machine's hashed components, the strong form),
 * "hwid" (the design's body without a fingerprint: only the registered hwid, which a clone of the
 * machine's id also presents), "none" (no seat and nothing presented). nonce: "client" (the instance's
 * nonce, so a recorded answer cannot be replayed to it) or "server" (the design's body without a nonce:
 * the server chose it, so the instance cannot tell a replayed answer from a fresh one within its age).
 */
export interface AnswerBinding {
  lease: "fingerprint" | "hwid" | "none";
  nonce: "client" | "server";
}

const MESSAGES: Record<ReasonCode, string> = {
  VALID: "the license is valid",
  NOT_FOUND: "no license has this key; check it for typos",
  NOT_ACTIVATED: "this key is not activated on this instance; activate it first",
  EXPIRED: "the license has expired; the instance runs as Starter until it is renewed",
  REVOKED: "the license was revoked",
  BANNED: "this instance or machine is banned",
  TOO_MANY_INSTANCES: "the license is active on as many instances as it allows; deactivate one first",
  FINGERPRINT_MISMATCH: "this machine differs from the one the license was activated on",
  FINGERPRINT_CLONED: "this machine's fingerprint is active on too many instances",
  HEARTBEAT_DEAD: "the instance missed its heartbeats and its seat was freed; activate the key again",
};

/** What goes into one answer. */
export interface AnswerInput {
  reason: ReasonCode;
  instanceId: string;
  nonce: string;
  license: SeatLicense | null;
  fingerprintDigest: string | null;
  /** Policy of the tier the instance runs as (the license's when VALID, Starter otherwise). */
  effective: TierPolicy;
  now: Date;
  /** Replaces the standard message. */
  message?: string;
  /** What the answer is bound to; by default the fingerprint (when there is a digest) and the client's nonce. */
  binding?: AnswerBinding;
}

/** An answer body and the lease in it (for the leases table). */
export interface BuiltAnswer {
  body: LicenseAnswerBody;
  lease: SignedLease | null;
}

/**
 * Builds and signs an answer. The lease runs for the tier's offline grace and never past the license's
 * expiry; an instance that cannot reach us keeps working until then (offline mode), then drops to Starter.
 */
export function buildAnswer(signer: AnswerSigner, input: AnswerInput): BuiltAnswer {
  const { effective, license, now } = input;
  const enforcement: LeaseEnforcement = {
    mode: effective.enforcement,
    offline_grace_seconds: effective.offlineGraceSeconds,
    on_expiry: "starter",
  };
  const granted = input.reason === "VALID" && license !== null;
  const binding: AnswerBinding = input.binding ?? {
    lease: input.fingerprintDigest === null ? "none" : "fingerprint",
    nonce: "client",
  };
  let lease: SignedLease | null = null;
  if (!STOPPING_REASONS.has(input.reason)) {
    let notAfter = now.getTime() + effective.offlineGraceSeconds * 1000;
    if (granted && license.expiresAt !== null) notAfter = Math.min(notAfter, license.expiresAt);
    lease = signer.lease(
      {
        sub: input.instanceId,
        lic: license?.id ?? null,
        tier: effective.tier,
        features: effective.features,
        limits: effective.limits,
        enforcement,
        fp: input.fingerprintDigest,
        bind: binding.lease,
        nonce: input.nonce,
        reason: input.reason,
        license_exp: license?.expiresAt != null ? Math.floor(license.expiresAt / 1000) : null,
      },
      new Date(notAfter),
      now,
    );
  }
  return {
    lease,
    body: {
      valid: input.reason === "VALID",
      reason: input.reason,
      message: input.message ?? MESSAGES[input.reason],
      tier: effective.tier,
      license_tier: license?.tier ?? null,
      license_id: license?.id ?? null,
      expires: license?.expiresAt != null ? new Date(license.expiresAt).toISOString() : null,
      features: effective.features,
      limits: effective.limits,
      enforcement,
      instance_id: input.instanceId,
      nonce: input.nonce,
      lease: lease?.token ?? null,
      lease_expires_at: lease ? lease.notAfter.toISOString() : null,
      issued_at: now.toISOString(),
      binding,
    },
  };
}

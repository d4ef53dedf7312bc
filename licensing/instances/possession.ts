import type pg from "pg";
import type { SecretBox } from "../keys/index.ts";
import { hashLicenseKey } from "../licenses/license-key.ts";
import { isFreshTimestamp, verifyRequestSignature } from "../request-signing/index.ts";
import { hashRefreshToken, isRefreshTokenShape } from "../tokens/index.ts";

/**
 * What a client registering a known hwid may present to prove it holds that instance: the register
 * request signed with the instance's current secret, the instance's refresh token, or a license key
 * with a live seat on the instance. Any one is enough.
 */
export interface PossessionProof {
  /** The register request's own signature (X-SM-Timestamp, X-SM-Signature) and what it covers. */
  signature?: { method: string; path: string; timestamp: string; bodySha256Hex: string; signature: string };
  refreshToken?: string;
  licenseKey?: string;
}

/** Which proof convinced, for the audit trail and the answer; undefined when none did. */
export type ProofKind = "signature" | "refresh_token" | "license_key";

/**
 * Checks the proofs presented for an instance, cheapest first, inside the registration's transaction
 * (the instance row is locked). The signature's window bounds a replay, and the registration it proves
 * rotates the secret, so a captured request cannot be replayed once it succeeded.
 */
export async function provePossession(
  client: pg.ClientBase,
  box: SecretBox,
  instance: { id: string; sealedSecret: Buffer | null; secretContext: string },
  proof: PossessionProof,
  signatureWindowSeconds: number,
): Promise<ProofKind | undefined> {
  const sig = proof.signature;
  if (
    sig &&
    instance.sealedSecret &&
    isFreshTimestamp(sig.timestamp, { windowSeconds: signatureWindowSeconds })
  ) {
    const secret = box.open(instance.sealedSecret, instance.secretContext);
    if (verifyRequestSignature({ ...sig, secret })) return "signature";
  }
  if (proof.refreshToken && isRefreshTokenShape(proof.refreshToken)) {
    const { rowCount } = await client.query(
      `SELECT 1 FROM refresh_tokens
       WHERE token_hash = $1 AND instance_id = $2 AND used_at IS NULL AND expires_at > now()`,
      [hashRefreshToken(proof.refreshToken), instance.id],
    );
    if (rowCount) return "refresh_token";
  }
  if (proof.licenseKey) {
    const { rowCount } = await client.query(
      `SELECT 1 FROM licenses l JOIN license_activations a ON a.license_id = l.id
       WHERE l.license_key = $1 AND a.instance_id = $2 AND a.deactivated_at IS NULL
         AND NOT COALESCE(l.is_revoked, false)`,
      [hashLicenseKey(proof.licenseKey), instance.id],
    );
    if (rowCount) return "license_key";
  }
  return undefined;
}

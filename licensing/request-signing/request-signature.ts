import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Header carrying the request's unix time in milliseconds, as a decimal string. Milliseconds, not
 * seconds: each signature is accepted once, so a retry must differ from the first try even within a second.
 */
export const TIMESTAMP_HEADER = "x-sm-timestamp";
/** Header carrying the base64url HMAC-SHA256 request signature. */
export const SIGNATURE_HEADER = "x-sm-signature";

/** What a request signature covers. */
export interface SignedRequest {
  /** The instance's signing secret: the raw 32 bytes (clients base64url-decode what registration returned). */
  secret: Uint8Array;
  /** HTTP method; compared upper-case. */
  method: string;
  /** URL path and query exactly as sent, e.g. "/v1/stats/batch?x=1". */
  path: string;
  /** Unix milliseconds, as sent in X-SM-Timestamp. */
  timestamp: string | number;
  /** Lower-case hex sha256 of the raw body bytes as sent (compressed, if compressed). */
  bodySha256Hex: string;
}

/** A new per-instance signing secret: 32 random bytes. */
export function newSigningSecret(): Buffer {
  return randomBytes(32);
}

/** Lower-case hex sha256 of a body, as the signature's canonical string wants it. */
export function bodySha256Hex(body: Uint8Array | string): string {
  return createHash("sha256").update(body).digest("hex");
}

/** The string that is signed: method, path, timestamp and body digest, one per line. */
function canonicalRequest(req: Omit<SignedRequest, "secret">): string {
  return `${req.method.toUpperCase()}\n${req.path}\n${String(req.timestamp)}\n${req.bodySha256Hex}`;
}

/** base64url HMAC-SHA256 of the canonical request under the instance's secret. */
export function requestSignature(req: SignedRequest): string {
  return createHmac("sha256", req.secret).update(canonicalRequest(req), "utf8").digest("base64url");
}

/** Whether a presented signature matches the request; compared in constant time. */
export function verifyRequestSignature(req: SignedRequest & { signature: string | undefined }): boolean {
  if (!req.signature) return false;
  const expected = createHmac("sha256", req.secret).update(canonicalRequest(req), "utf8").digest();
  const given = Buffer.from(req.signature, "base64url");
  // Buffer.from drops characters outside the alphabet; requiring the exact re-encoding rejects them.
  if (given.length !== expected.length || given.toString("base64url") !== req.signature) return false;
  return timingSafeEqual(given, expected);
}

/**
 * Whether an X-SM-Timestamp is a plain decimal unix time in milliseconds within windowSeconds of now,
 * either side: together with the signature this bounds how long a captured request can be replayed.
 */
export function isFreshTimestamp(
  timestamp: string | undefined,
  opts: { windowSeconds: number; now?: Date },
): boolean {
  if (!timestamp || !/^\d{1,15}$/.test(timestamp)) return false;
  const now = (opts.now ?? new Date()).getTime();
  return Math.abs(now - Number(timestamp)) <= opts.windowSeconds * 1000;
}

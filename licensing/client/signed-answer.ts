import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";

/** Response header carrying the server's Ed25519 signature of an answer. */
export const ANSWER_SIGNATURE_HEADER = "sm-signature";
/** The JWS "typ" of leases. */
export const LEASE_TYPE = "lease+jwt";
/** "aud" of leases: SongMartyn instances. */
export const LEASE_AUDIENCE = "songmartyn-instance";

/** A JSON Web Key Set as GET /v1/keys serves it (Ed25519 public keys). */
export interface PublicKeySet {
  keys: ReadonlyArray<{ kty: string; crv?: string; x?: string; kid?: string; alg?: string; use?: string }>;
}

/** Why a signed answer or lease was refused. */
export type VerifyFailure =
  | "SIGNATURE_MISSING"
  | "SIGNATURE_MALFORMED"
  | "UNKNOWN_KEY"
  | "BAD_SIGNATURE"
  | "STALE_ANSWER"
  | "NONCE_MISMATCH"
  | "INSTANCE_MISMATCH"
  | "LEASE_MALFORMED"
  | "LEASE_EXPIRED"
  | "LEASE_NOT_YET_VALID";

/** A failed verification, with a stable code. */
export class VerifyError extends Error {
  override readonly name = "VerifyError";
  constructor(
    readonly code: VerifyFailure,
    message: string,
  ) {
    super(message);
  }
}

/** The string the server signs for an answer: method, path, date and body digest, one per line. */
export function canonicalAnswer(input: {
  method: string;
  path: string;
  date: string;
  body: Uint8Array | string;
}) {
  const digest = createHash("sha256").update(input.body).digest("hex");
  return `${input.method.toUpperCase()}\n${input.path}\n${input.date}\n${digest}`;
}

/** Formats the Sm-Signature header: key id, algorithm and the base64url signature. */
export function formatAnswerSignature(kid: string, signature: Uint8Array): string {
  return `kid="${kid}", alg="ed25519", sig="${Buffer.from(signature).toString("base64url")}"`;
}

/** Parses an Sm-Signature header. */
export function parseAnswerSignature(header: string): { kid: string; sig: Buffer } {
  const kid = /(?:^|[\s,])kid="([A-Za-z0-9_-]{1,128})"/.exec(header)?.[1];
  const alg = /(?:^|[\s,])alg="([a-z0-9]+)"/.exec(header)?.[1];
  const sig = /(?:^|[\s,])sig="([A-Za-z0-9_-]+)"/.exec(header)?.[1];
  if (!kid || !sig || alg !== "ed25519")
    throw new VerifyError("SIGNATURE_MALFORMED", "malformed Sm-Signature");
  return { kid, sig: Buffer.from(sig, "base64url") };
}

/** Ed25519 public keys of a key set by kid, imported once. */
export class KeyStore {
  readonly #keys = new Map<string, KeyObject>();
  constructor(set: PublicKeySet) {
    for (const jwk of set.keys) {
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.kid || !jwk.x) continue;
      this.#keys.set(
        jwk.kid,
        createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }),
      );
    }
  }
  /** The key of a kid, or UNKNOWN_KEY. */
  get(kid: string): KeyObject {
    const key = this.#keys.get(kid);
    if (!key) throw new VerifyError("UNKNOWN_KEY", `no published key ${kid}; fetch /v1/keys again`);
    return key;
  }
}

/** What a received answer consists of. */
export interface ReceivedAnswer {
  method: string;
  /** Path (and query) as requested. */
  path: string;
  /** The Date header. */
  date: string | undefined;
  /** The Sm-Signature header. */
  signature: string | undefined;
  /** The raw body bytes. */
  body: Uint8Array | string;
}

/**
 * Verifies an answer's signature over method, path, date and body. With maxAgeSeconds, an answer dated
 * further from now than that is STALE_ANSWER (a recording replayed later).
 */
export function verifyAnswerSignature(
  keys: KeyStore,
  answer: ReceivedAnswer,
  opts: { now?: Date; maxAgeSeconds?: number } = {},
): void {
  if (!answer.signature || !answer.date)
    throw new VerifyError("SIGNATURE_MISSING", "the answer is not signed");
  const { kid, sig } = parseAnswerSignature(answer.signature);
  const data = Buffer.from(canonicalAnswer({ ...answer, date: answer.date }), "utf8");
  if (!verify(null, data, keys.get(kid), sig)) {
    throw new VerifyError("BAD_SIGNATURE", "the answer's signature does not match");
  }
  if (opts.maxAgeSeconds !== undefined) {
    const age = Math.abs((opts.now ?? new Date()).getTime() - Date.parse(answer.date)) / 1000;
    if (!(age <= opts.maxAgeSeconds)) throw new VerifyError("STALE_ANSWER", `the answer is ${age} s old`);
  }
}

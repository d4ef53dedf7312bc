import { randomUUID } from "node:crypto";
import { type CryptoKey, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { LicensingError } from "../errors.ts";
import { type KeyRing, SIGNING_ALG } from "../keys/index.ts";

/** "iss" of every instance token. */
export const TOKEN_ISSUER = "smstats";
/** "aud" of instance tokens: only the ingest accepts them. */
export const TOKEN_AUDIENCE = "smstats-ingest";
/** "scope" of instance tokens. */
export const TOKEN_SCOPE = "instance";
// Explicit typing (RFC 8725 §3.11): a lease or any later token signed by the same keys is never
// mistaken for an instance token, even if its claims happened to line up.
const TOKEN_TYPE = "instance+jwt";
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Ours are ~400 characters; anything far longer is not worth base64-decoding.
const MAX_TOKEN_LENGTH = 4096;

/** Default lifetime of an instance token, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** Default clock skew accepted on "exp", in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;

/** The claims of a verified instance token. */
export interface InstanceTokenClaims {
  iss: typeof TOKEN_ISSUER;
  aud: typeof TOKEN_AUDIENCE;
  /** The instance id. */
  sub: string;
  tier: string;
  scope: typeof TOKEN_SCOPE;
  iat: number;
  exp: number;
  jti: string;
}

/** Whom a token is issued to. */
export interface TokenSubject {
  instanceId: string;
  tier: string;
}

/** Options of issueInstanceToken. */
export interface IssueTokenOptions {
  /** Lifetime in seconds; default 3600. */
  ttlSeconds?: number;
  /** The issue time; default now. */
  now?: Date;
}

/** Options of verifyInstanceToken. */
export interface VerifyTokenOptions {
  /** The verification time; default now. */
  now?: Date;
  /** Seconds of clock skew accepted on "exp"; default 30. */
  clockToleranceSec?: number;
}

/** When a token issued at `now` with a lifetime of `ttlSeconds` expires ("exp" has whole seconds). */
export function tokenExpiresAt(now: Date, ttlSeconds: number): Date {
  return new Date((Math.floor(now.getTime() / 1000) + ttlSeconds) * 1000);
}

/** Signs an instance token (compact JWS, EdDSA) with the ring's current key. */
export async function issueInstanceToken(
  ring: KeyRing,
  subject: TokenSubject,
  opts: IssueTokenOptions = {},
): Promise<string> {
  const now = opts.now ?? new Date();
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ tier: subject.tier, scope: TOKEN_SCOPE })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: ring.current.kid, typ: TOKEN_TYPE })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(subject.instanceId)
    .setIssuedAt(iat)
    .setExpirationTime(tokenExpiresAt(now, opts.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS))
    .setJti(randomUUID())
    .sign(ring.current.privateKey);
}

/** The token of an "Authorization: Bearer <token>" header, or undefined when there is none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
  return m?.[1];
}

// jose's error codes, by the stable code a client sees. Every other failure is TOKEN_INVALID.
const JOSE_CODES: Record<string, "TOKEN_MALFORMED" | "TOKEN_EXPIRED"> = {
  ERR_JWS_INVALID: "TOKEN_MALFORMED",
  ERR_JWT_EXPIRED: "TOKEN_EXPIRED",
};

function claimsOf(payload: JWTPayload): InstanceTokenClaims {
  const { sub, tier, scope, iat, exp, jti } = payload;
  if (
    typeof sub !== "string" ||
    typeof tier !== "string" ||
    scope !== TOKEN_SCOPE ||
    typeof iat !== "number" ||
    typeof exp !== "number" ||
    typeof jti !== "string"
  ) {
    throw new LicensingError("TOKEN_INVALID", "the token lacks instance claims");
  }
  return { iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub, tier, scope, iat, exp, jti };
}

/**
 * Verifies an instance token: signature by a key of the ring (any kid it still accepts), EdDSA only,
 * type, issuer, audience and expiry. Throws a LicensingError with code TOKEN_MISSING, TOKEN_MALFORMED,
 * TOKEN_EXPIRED or TOKEN_INVALID (bad signature, unknown kid, wrong audience, issuer or type).
 */
export async function verifyInstanceToken(
  ring: KeyRing,
  token: string | undefined,
  opts: VerifyTokenOptions = {},
): Promise<InstanceTokenClaims> {
  if (!token) throw new LicensingError("TOKEN_MISSING", "no instance token");
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
    throw new LicensingError("TOKEN_MALFORMED", "the instance token is not a compact JWS");
  }
  try {
    const { payload } = await jwtVerify(
      token,
      (header): CryptoKey => {
        const key = header.kid === undefined ? undefined : ring.verifiers.get(header.kid);
        if (!key) throw new LicensingError("TOKEN_INVALID", "the token was signed by an unknown key");
        return key;
      },
      {
        algorithms: [SIGNING_ALG],
        typ: TOKEN_TYPE,
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ["sub", "iat", "exp", "jti"],
        clockTolerance: opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
        ...(opts.now ? { currentDate: opts.now } : {}),
      },
    );
    return claimsOf(payload);
  } catch (err) {
    if (err instanceof LicensingError) throw err;
    const code = JOSE_CODES[(err as { code?: string }).code ?? ""] ?? "TOKEN_INVALID";
    const message =
      code === "TOKEN_EXPIRED"
        ? "the instance token has expired"
        : code === "TOKEN_MALFORMED"
          ? "the instance token is malformed"
          : "the instance token is invalid";
    throw new LicensingError(code, message, { cause: err });
  }
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Counter } from "prom-client";
import { HttpErrors } from "../../lib/http/index.ts";
import {
  bearerToken,
  isFreshTimestamp,
  isLicensingError,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import type { IdentityCache, InstanceIdentity } from "./identity-cache.ts";
import type { RequestGuard } from "./request-guard.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated instance, on routes with `config: { auth: "instance" }`. */
    instance?: InstanceIdentity;
  }
  interface FastifyContextConfig {
    /** "instance": bearer token + request signature + rate limit. */
    auth?: "instance";
    /**
     * Lets a banned instance through to the handler (licensing routes), which answers it with a signed
     * BANNED / continue: false instead of a bare 403.
     */
    allowBanned?: boolean;
  }
}

/** What the authentication plugin needs. */
export interface AuthenticateOptions {
  /** Verifies an instance token; throws an error whose code is TOKEN_* on failure. */
  verifyToken(token: string): Promise<{ instanceId: string; tier: string }>;
  identities: IdentityCache;
  /** Checks a request signature against the instance's secret. */
  verifySignature(input: {
    secret: Buffer;
    method: string;
    path: string;
    timestamp: string;
    bodySha256Hex: string;
    signature: string;
  }): boolean;
  guard: RequestGuard;
  /** Requests per minute allowed for a tier. */
  rateLimitFor(tier: string): number;
  signatureWindowMs: number;
  /** Counts refusals by code. */
  refused: Counter<"code">;
}

/**
 * Authenticates instance requests in two stages. Before the body is read: the bearer token (EdDSA
 * JWT), the signature timestamp window, the ban, the rate limit and whether the signature was used
 * before, so refused requests cost no body parsing. After the body's bytes are read, and before they
 * are decompressed or parsed: the HMAC signature over method, path, timestamp and the digest of the
 * body as sent.
 */
async function authenticate(app: FastifyInstance, opts: AuthenticateOptions) {
  const refuse = (code: string, err: Error): never => {
    opts.refused.inc({ code });
    throw err;
  };

  const replays = new WeakSet<FastifyRequest>();

  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.auth !== "instance") return;
    const token = bearerToken(request.headers.authorization);
    if (!token) return refuse("TOKEN_MISSING", new HttpErrors.TOKEN_MISSING());
    let claims: { instanceId: string; tier: string };
    try {
      claims = await opts.verifyToken(token);
    } catch (err) {
      // A licensing error (TOKEN_*) is thrown as it is: the error handler's mapping answers it.
      return refuse(isLicensingError(err) ? err.code : "TOKEN_INVALID", err as Error);
    }
    const timestamp = String(request.headers[TIMESTAMP_HEADER] ?? "");
    if (!request.headers[SIGNATURE_HEADER] || !/^\d{1,15}$/.test(timestamp)) {
      refuse("SIGNATURE_MISSING", new HttpErrors.SIGNATURE_MISSING());
    }
    if (!isFreshTimestamp(timestamp, { windowSeconds: opts.signatureWindowMs / 1000 })) {
      refuse("SIGNATURE_EXPIRED", new HttpErrors.SIGNATURE_EXPIRED(opts.signatureWindowMs / 1000));
    }
    const identity = await opts.identities.get(claims.instanceId);
    if (!identity) return refuse("INSTANCE_UNKNOWN", new HttpErrors.INSTANCE_UNKNOWN());
    if (identity.banned && !request.routeOptions.config.allowBanned) {
      refuse("INSTANCE_BANNED", new HttpErrors.INSTANCE_BANNED());
    }
    const limit = await opts.guard.admit({
      instanceId: identity.instanceId,
      limit: opts.rateLimitFor(claims.tier),
      signature: String(request.headers[SIGNATURE_HEADER]),
      // Twice the window: a signature stays unusable for as long as its timestamp could be accepted.
      signatureTtlMs: 2 * opts.signatureWindowMs,
    });
    reply.header("ratelimit-limit", String(limit.limit));
    reply.header("ratelimit-remaining", String(limit.remaining));
    reply.header("ratelimit-reset", String(Math.ceil(limit.resetMs / 1000)));
    if (!limit.allowed) {
      reply.header("retry-after", String(Math.max(1, Math.ceil(limit.resetMs / 1000))));
      refuse("RATE_LIMITED", new HttpErrors.RATE_LIMITED(limit.limit));
    }
    // Whether the signature was seen before is known now; it is reported only once the signature is
    // verified, so a forged signature is told apart from a replayed one.
    if (!limit.firstUse) replays.add(request);
    request.instance = identity;
  });

  // preValidation: after the body's bytes are read, before the body parsers' own preValidation hook
  // (registered after this plugin) decompresses and parses them.
  app.addHook("preValidation", async (request: FastifyRequest) => {
    if (request.routeOptions.config.auth !== "instance" || !request.instance) return;
    const signature = String(request.headers[SIGNATURE_HEADER]);
    const ok = opts.verifySignature({
      secret: request.instance.signingSecret,
      method: request.method,
      path: request.url,
      timestamp: String(request.headers[TIMESTAMP_HEADER]),
      bodySha256Hex: request.bodySha256 ?? EMPTY_SHA256,
      signature,
    });
    if (!ok) refuse("SIGNATURE_INVALID", new HttpErrors.SIGNATURE_INVALID());
    if (replays.has(request)) refuse("SIGNATURE_REUSED", new HttpErrors.SIGNATURE_REUSED());
  });
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Instance authentication as a plugin; routes opt in with `config: { auth: "instance" }`. */
export default fp(authenticate, { name: "smstats-authenticate" });

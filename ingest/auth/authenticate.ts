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
import { createLocalBlocks } from "./local-blocks.ts";
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
  /** Badly signed requests per minute from one address before its requests are refused (429). */
  badSignaturesPerMinute: number;
  signatureWindowMs: number;
  /** Counts refusals by code. */
  refused: Counter<"code">;
  /** Told how long each admission waited on Redis, seconds. */
  admitted?: (seconds: number) => void;
  /** The configured suspicious patterns over the user agent; throws (SUSPICIOUS_CLIENT) to refuse. */
  checkSuspicious?: (fields: { user_agent?: string }, subject: string) => Promise<void>;
}

/**
 * Authenticates instance requests in two stages. Before the body is read: the bearer token (EdDSA
 * JWT), the signature timestamp window, the ban, the address's bad-signature limit and whether the
 * instance is already over its rate limit (both as this process last heard from Redis: no round trip),
 * so refused requests cost no body parsing. After the body's
 * bytes are read, and before they are decompressed or parsed: the HMAC signature over method, path,
 * timestamp and the digest of the body as sent; only then is the request counted against the
 * instance's limit (at the tier the instance has now) and its signature claimed. A bad signature counts
 * against its address instead, so a token without its secret cannot use up the instance's quota.
 */
async function authenticate(app: FastifyInstance, opts: AuthenticateOptions) {
  // What Redis answered about addresses past the bad-signature limit and instances past their limit.
  const badAddresses = createLocalBlocks();
  const overInstances = createLocalBlocks();
  const refuse = (code: string, err: Error): never => {
    opts.refused.inc({ code });
    throw err;
  };

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
    if (opts.checkSuspicious) {
      try {
        await opts.checkSuspicious({ user_agent: request.headers["user-agent"] }, identity.instanceId);
      } catch (err) {
        if (isLicensingError(err, "SUSPICIOUS_CLIENT")) refuse("SUSPICIOUS_CLIENT", err);
        throw err;
      }
    }
    // Before the body, from what this process learned from Redis (no round trip): an address that sent
    // too many bad signatures is stopped here, and an instance already over its limit of verified
    // requests is told so. Only verified requests are counted (below).
    const now = Date.now();
    const bad = badAddresses.get(request.ip, now);
    if (bad && bad.count >= opts.badSignaturesPerMinute) {
      reply.header("retry-after", String(Math.max(1, Math.ceil((bad.untilMs - now) / 1000))));
      refuse("SIGNATURES_LIMITED", new HttpErrors.SIGNATURES_LIMITED());
    }
    // The tier is the instance's current one (identity cache: TTL and invalidation), not the token's.
    const limit = opts.rateLimitFor(identity.tier);
    const over = overInstances.get(identity.instanceId, now);
    if (over && over.count > limit) {
      rateLimited(reply, { limit, remaining: 0, resetMs: over.untilMs - now });
      refuse("RATE_LIMITED", new HttpErrors.RATE_LIMITED(limit));
    }
    request.instance = identity;
  });

  // preValidation: after the body's bytes are read, before the body parsers' own preValidation hook
  // (registered after this plugin) decompresses and parses them.
  app.addHook("preValidation", async (request: FastifyRequest, reply: FastifyReply) => {
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
    if (!ok) {
      const bad = await opts.guard.badSignature(request.ip);
      if (bad.count >= opts.badSignaturesPerMinute) {
        badAddresses.set(request.ip, bad.count, Date.now() + bad.resetMs);
      }
      refuse("SIGNATURE_INVALID", new HttpErrors.SIGNATURE_INVALID());
    }
    const asked = performance.now();
    const limit = await opts.guard.admit({
      instanceId: request.instance.instanceId,
      limit: opts.rateLimitFor(request.instance.tier),
      signature,
      // Twice the window: a signature stays unusable for as long as its timestamp could be accepted.
      signatureTtlMs: 2 * opts.signatureWindowMs,
    });
    opts.admitted?.((performance.now() - asked) / 1000);
    if (!limit.firstUse && limit.allowed) refuse("SIGNATURE_REUSED", new HttpErrors.SIGNATURE_REUSED());
    rateHeaders(reply, limit);
    if (!limit.allowed) {
      overInstances.set(request.instance.instanceId, limit.limit + 1, Date.now() + limit.resetMs);
      rateLimited(reply, limit);
      refuse("RATE_LIMITED", new HttpErrors.RATE_LIMITED(limit.limit));
    }
  });
}

type Window = { limit: number; remaining: number; resetMs: number };

function rateHeaders(reply: FastifyReply, w: Window): void {
  reply.header("ratelimit-limit", String(w.limit));
  reply.header("ratelimit-remaining", String(w.remaining));
  reply.header("ratelimit-reset", String(Math.ceil(w.resetMs / 1000)));
}

function rateLimited(reply: FastifyReply, w: Window): void {
  rateHeaders(reply, w);
  reply.header("retry-after", String(Math.max(1, Math.ceil(w.resetMs / 1000))));
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Instance authentication as a plugin; routes opt in with `config: { auth: "instance" }`. */
export default fp(authenticate, { name: "smstats-authenticate" });

import type { FastifyInstance } from "fastify";
import type pg from "pg";
import {
  isLicensingError,
  type KeyRing,
  type PiiVault,
  registerInstance,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../../../licensing/index.ts";
import { type RegisterBody, registerRouteSchema } from "./register-schema.ts";

/** Options of the registration route. */
export interface RegisterRouteOptions {
  pool: pg.Pool;
  ring: KeyRing;
  vault: PiiVault;
  /** Instance token lifetime in seconds; default 3600. */
  tokenTtlSeconds?: number;
  /** Refresh token lifetime in seconds; default 30 days. */
  refreshTtlSeconds?: number;
  /** Throws (429 REGISTRATIONS_LIMITED) when the address registered too often; absent, nothing is limited. */
  limitRegistrations?: (ip: string) => Promise<void>;
  /** Called when a banned hwid tries to register (counted as an abuse rule). */
  onBanned?: () => void;
  /** Called when a known hwid is registered without proof (counted as an abuse rule). */
  onHwidInUse?: () => void;
  /** The configured suspicious patterns, over the user agent, version and hwid; throws to refuse. */
  checkSuspicious?: (
    fields: { user_agent?: string; version?: string; hwid?: string },
    subject: string,
  ) => Promise<void>;
  /** Called after a known instance got new credentials, so every process drops its cached identity. */
  onRotated?: (instanceId: string) => Promise<void>;
  /** Window of a proof's request signature, ms; default 5 minutes. */
  signatureWindowMs?: number;
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** POST /v1/instances/register: create or re-register an instance, answer 201 with fresh credentials. */
export async function registerRoute(app: FastifyInstance, opts: RegisterRouteOptions) {
  app.post<{ Body: RegisterBody }>(
    "/v1/instances/register",
    { schema: registerRouteSchema },
    async (request, reply) => {
      try {
        await opts.limitRegistrations?.(request.ip);
        await opts.checkSuspicious?.(
          {
            user_agent: request.headers["user-agent"],
            version: request.body.version,
            hwid: request.body.hwid,
          },
          request.ip,
        );
        const { refresh_token: refreshToken, license_key: licenseKey, ...input } = request.body;
        const timestamp = request.headers[TIMESTAMP_HEADER];
        const signature = request.headers[SIGNATURE_HEADER];
        const r = await registerInstance(opts.pool, opts.ring, opts.vault, input, {
          tokenTtlSeconds: opts.tokenTtlSeconds,
          refreshTtlSeconds: opts.refreshTtlSeconds,
          signatureWindowSeconds: (opts.signatureWindowMs ?? 300_000) / 1000,
          proof: {
            refreshToken,
            licenseKey,
            // The register request signed with the instance's current secret, as every instance request is.
            signature:
              typeof timestamp === "string" && typeof signature === "string"
                ? {
                    method: request.method,
                    path: request.url,
                    timestamp,
                    signature,
                    bodySha256Hex: request.bodySha256 ?? EMPTY_SHA256,
                  }
                : undefined,
          },
        });
        if (!r.created) await opts.onRotated?.(r.instanceId);
        // Credentials must not linger in caches between the instance and us (RFC 6749 §5.1).
        return reply.code(201).header("cache-control", "no-store").send({
          instance_id: r.instanceId,
          instance_token: r.instanceToken,
          token_expires_at: r.tokenExpiresAt.toISOString(),
          refresh_token: r.refreshToken,
          refresh_token_expires_at: r.refreshExpiresAt.toISOString(),
          signing_secret: r.signingSecret,
          tier: r.tier,
          registered_at: r.registeredAt.toISOString(),
          consent: r.consent,
        });
      } catch (err) {
        // Counted here, answered by the error handler's mapping like every licensing error.
        if (isLicensingError(err, "INSTANCE_BANNED")) opts.onBanned?.();
        if (isLicensingError(err, "HWID_IN_USE")) opts.onHwidInUse?.();
        throw err;
      }
    },
  );
}

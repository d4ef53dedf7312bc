import type { FastifyInstance } from "fastify";
import type pg from "pg";
import {
  isLicensingError,
  type KeyRing,
  type PiiVault,
  registerInstance,
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
}

/** POST /v1/instances/register: create or re-register an instance, answer 201 with fresh credentials. */
export async function registerRoute(app: FastifyInstance, opts: RegisterRouteOptions) {
  app.post<{ Body: RegisterBody }>(
    "/v1/instances/register",
    { schema: registerRouteSchema },
    async (request, reply) => {
      try {
        await opts.limitRegistrations?.(request.ip);
        const r = await registerInstance(opts.pool, opts.ring, opts.vault, request.body, {
          tokenTtlSeconds: opts.tokenTtlSeconds,
          refreshTtlSeconds: opts.refreshTtlSeconds,
        });
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
        throw err;
      }
    },
  );
}

import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { errorBodySchema } from "../../../../lib/http/index.ts";
import { type KeyRing, refreshInstanceToken } from "../../../../licensing/index.ts";
import { tokenResponseSchema } from "../instances/register-schema.ts";

/** Options of the refresh route. */
export interface RefreshRouteOptions {
  pool: pg.Pool;
  ring: KeyRing;
  /** Instance token lifetime in seconds; default 3600. */
  tokenTtlSeconds?: number;
  /** Refresh token lifetime in seconds; default 30 days. */
  refreshTtlSeconds?: number;
}

/** The body of POST /v1/auth/refresh. */
export interface RefreshBody {
  refresh_token: string;
}

/** Route schema of POST /v1/auth/refresh (also feeds the OpenAPI document). */
export const refreshRouteSchema = {
  summary: "Refresh an instance token",
  description:
    "Exchanges a refresh token for a new instance token and a new refresh token. Each refresh token works " +
    "once: presenting a used one again revokes every refresh token of the instance, which must then " +
    "register again.",
  tags: ["instances"],
  body: {
    type: "object",
    required: ["refresh_token"],
    additionalProperties: false,
    properties: { refresh_token: { type: "string", minLength: 1, maxLength: 128 } },
  },
  response: {
    200: tokenResponseSchema,
    "4xx": errorBodySchema,
    "5xx": errorBodySchema,
  },
} as const;

/** POST /v1/auth/refresh: one-time exchange of a refresh token for new tokens. */
export async function refreshRoute(app: FastifyInstance, opts: RefreshRouteOptions) {
  app.post<{ Body: RefreshBody }>(
    "/v1/auth/refresh",
    { schema: refreshRouteSchema },
    async (request, reply) => {
      const r = await refreshInstanceToken(opts.pool, opts.ring, request.body.refresh_token, {
        tokenTtlSeconds: opts.tokenTtlSeconds,
        refreshTtlSeconds: opts.refreshTtlSeconds,
      });
      return reply.header("cache-control", "no-store").send({
        instance_id: r.instanceId,
        instance_token: r.instanceToken,
        token_expires_at: r.tokenExpiresAt.toISOString(),
        refresh_token: r.refreshToken,
        refresh_token_expires_at: r.refreshExpiresAt.toISOString(),
        tier: r.tier,
      });
    },
  );
}

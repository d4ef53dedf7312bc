import type { FastifyInstance, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import { errorBodySchema } from "../../lib/http/index.ts";

/** OpenAPI security requirement of instance routes: the token and the request signature, together. */
export const INSTANCE_SECURITY = [{ instanceToken: [], requestSignature: [], requestTimestamp: [] }];

/** The security schemes the document names (admin routes use adminToken). */
export const securitySchemes = {
  adminToken: {
    type: "http",
    scheme: "bearer",
    description: "admin token smadm_… from `smstats admin token create --scope …`",
  },
  adminSession: {
    type: "apiKey",
    in: "cookie",
    name: "smstats_admin",
    description: "console session",
  },
  portalSession: {
    type: "apiKey",
    in: "cookie",
    name: "smstats_portal",
    description: "portal session",
  },
  instanceToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "the instance's EdDSA access token from POST /v1/instances/register or /v1/auth/refresh",
  },
  requestSignature: {
    type: "apiKey",
    in: "header",
    name: "X-SM-Signature",
    description:
      "the request signature (licensing/request-signing) over method, path, X-SM-Timestamp and the body as sent",
  },
  requestTimestamp: {
    type: "apiKey",
    in: "header",
    name: "X-SM-Timestamp",
    description: "unix milliseconds of the signature; within the configured window of the server's clock",
  },
} as const;

/**
 * Makes the OpenAPI document say what the service does, for every route as it is added: routes with
 * `config.auth = "instance"` carry the instance security requirement, and every documented route lists
 * the error shape for 4xx and 5xx (the error handler answers them all in it). Runs on the route's own
 * schema object, which the document is generated from.
 */
async function routeDocs(app: FastifyInstance) {
  app.addHook("onRoute", (route: RouteOptions) => {
    const schema = route.schema as
      | { hide?: boolean; security?: unknown; response?: Record<string, unknown> }
      | undefined;
    if (!schema || schema.hide) return;
    if ((route.config as { auth?: string } | undefined)?.auth === "instance" && !schema.security)
      schema.security = INSTANCE_SECURITY;
    const response = schema.response ?? {};
    schema.response = {
      ...response,
      "4xx": response["4xx"] ?? errorBodySchema,
      "5xx": response["5xx"] ?? errorBodySchema,
    };
  });
}

/** The route documentation defaults as a plugin; register it before any route. */
export default fp(routeDocs, { name: "smstats-route-docs" });

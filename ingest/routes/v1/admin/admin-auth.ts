import type { FastifyInstance, FastifyRequest } from "fastify";
import type pg from "pg";
import type { Counter } from "prom-client";
import { HttpErrors } from "../../../../lib/http/index.ts";
import {
  type Actor,
  type AdminPrincipal,
  type AdminScope,
  bearerToken,
  isLicensingError,
  verifyAdminToken,
} from "../../../../licensing/index.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The admin token's principal, on admin routes. */
    admin?: AdminPrincipal;
  }
  interface FastifyContextConfig {
    /** The scope an admin route requires. */
    adminScope?: AdminScope;
  }
}

/**
 * Admin authentication for the routes of this scope: a bearer admin token (smadm_…) that is known, not
 * revoked, not expired, and carries the route's scope. Refusals are counted by code.
 */
export function adminAuth(app: FastifyInstance, opts: { pool: pg.Pool; refused: Counter<"code"> }) {
  app.addHook("onRequest", async (request) => {
    const scope = request.routeOptions.config.adminScope;
    if (!scope) return;
    let principal: AdminPrincipal;
    try {
      principal = await verifyAdminToken(opts.pool, bearerToken(request.headers.authorization));
    } catch (err) {
      if (!isLicensingError(err, "ADMIN_TOKEN_INVALID")) throw err;
      opts.refused.inc({ code: "ADMIN_TOKEN_INVALID" });
      throw new HttpErrors.ADMIN_TOKEN_INVALID();
    }
    if (!principal.scopes.includes(scope)) {
      opts.refused.inc({ code: "ADMIN_SCOPE_MISSING" });
      throw new HttpErrors.ADMIN_SCOPE_MISSING(scope);
    }
    request.admin = principal;
  });
}

/** The audit actor of an admin request. */
export function actorOf(request: FastifyRequest): Actor {
  return { name: `token:${request.admin?.name ?? "?"}`, source: "api", ip: request.ip };
}

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
  type PiiVault,
  verifyAdminToken,
  verifyAdminTokenHash,
} from "../../../../licensing/index.ts";
import { csrfMatches, isSafeMethod, type SessionStore, sameOrigin } from "../../../web/index.ts";

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

/** What a console session stands for: the admin token's stored hash (hex), never the token. */
export interface AdminSessionData {
  tokenHash: string;
}

/** Options of admin authentication. */
export interface AdminAuthOptions {
  pool: pg.Pool;
  /** Opens owner emails and seals the admin's address for the audit log. */
  vault: PiiVault;
  refused: Counter<"code">;
  /** Console sessions (cookie); without it only bearer tokens are taken. */
  sessions?: SessionStore<AdminSessionData>;
}

/**
 * The principal of an admin request: a bearer admin token (smadm_…), or else the console's session
 * cookie, whose unsafe requests must also carry the session's CSRF token from this origin. Either way the
 * token is checked afresh (known, not revoked, not expired). Refusals are counted by code.
 */
export async function authenticateAdmin(
  request: FastifyRequest,
  opts: AdminAuthOptions,
): Promise<AdminPrincipal> {
  const refuse = (code: "ADMIN_TOKEN_INVALID" | "CSRF_INVALID") => {
    opts.refused.inc({ code });
    return new HttpErrors[code]();
  };
  try {
    if (request.headers.authorization !== undefined || !opts.sessions) {
      return await verifyAdminToken(opts.pool, bearerToken(request.headers.authorization));
    }
    const session = await opts.sessions.get(request.cookies?.[opts.sessions.cookie]);
    if (!session) throw refuse("ADMIN_TOKEN_INVALID");
    if (!isSafeMethod(request.method)) {
      if (!sameOrigin(request) || !csrfMatches(session, request.headers["x-csrf-token"])) {
        throw refuse("CSRF_INVALID");
      }
    }
    return await verifyAdminTokenHash(opts.pool, Buffer.from(session.data.tokenHash, "hex"));
  } catch (err) {
    // Counted here; the error handler's mapping answers the licensing error.
    if (isLicensingError(err, "ADMIN_TOKEN_INVALID")) opts.refused.inc({ code: "ADMIN_TOKEN_INVALID" });
    throw err;
  }
}

/**
 * Admin authentication for the routes of this scope: an admin principal (see authenticateAdmin) that
 * carries the route's scope.
 */
export function adminAuth(app: FastifyInstance, opts: AdminAuthOptions) {
  app.addHook("onRequest", async (request) => {
    const scope = request.routeOptions.config.adminScope;
    if (!scope) return;
    const principal = await authenticateAdmin(request, opts);
    if (!principal.scopes.includes(scope)) {
      opts.refused.inc({ code: "ADMIN_SCOPE_MISSING" });
      throw new HttpErrors.ADMIN_SCOPE_MISSING(scope);
    }
    request.admin = principal;
  });
}

/** The audit actor of an admin request; its address is sealed (the audit log keeps no clear address). */
export function actorOf(request: FastifyRequest, vault: PiiVault): Actor {
  return {
    name: `token:${request.admin?.name ?? "?"}`,
    source: "api",
    ipSealed: request.ip ? vault.sealAddress(request.ip) : undefined,
  };
}

import type { FastifyInstance, FastifyRequest } from "fastify";
import { errorBodySchema, HttpErrors } from "../../../../lib/http/index.ts";
import {
  type LicensingService,
  offlineLicense,
  type PortalDeps,
  portalDevices,
  portalLicense,
  portalSignIn,
  requireDevice,
} from "../../../../licensing/index.ts";
import {
  csrfMatches,
  isSafeMethod,
  type SessionStore,
  sameOrigin,
  sessionCookieOptions,
} from "../../../web/index.ts";

/** What a portal session stands for: one license. */
export interface PortalSessionData {
  licenseId: string;
}

/** Options of the license portal's API. */
export interface PortalRoutesOptions {
  portal: PortalDeps;
  licensing: LicensingService;
  sessions: SessionStore<PortalSessionData>;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The license of a portal request's session. */
    portalLicenseId?: string;
  }
  interface FastifyContextConfig {
    /** The route needs a portal session. */
    portalSession?: boolean;
  }
}

const errors = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;
const security = [{ portalSession: [] }];
const deviceParams = {
  type: "object",
  required: ["instance_id"],
  properties: { instance_id: { type: "string", format: "uuid" } },
} as const;
const device = {
  type: "object",
  properties: {
    instance_id: { type: "string" },
    platform: { type: ["string", "null"] },
    version: { type: ["string", "null"] },
    activated_at: { type: "string" },
    last_heartbeat_at: { type: "string" },
    country: { type: "string" },
  },
} as const;

/**
 * The license portal's API under /v1/portal: an owner signs in with the license key (throttled per
 * address), then sees the license and its devices, frees a seat within the tier's transfer cap and
 * downloads an offline license file. Unsafe requests need the session's CSRF token from this origin.
 */
export async function portalRoutes(app: FastifyInstance, opts: PortalRoutesOptions) {
  const { portal, sessions } = opts;
  app.addHook("onRequest", async (request: FastifyRequest) => {
    if (!request.routeOptions.config.portalSession) return;
    const session = await sessions.get(request.cookies[sessions.cookie]);
    if (!session) throw new HttpErrors.PORTAL_SESSION_INVALID();
    if (!isSafeMethod(request.method)) {
      if (!sameOrigin(request) || !csrfMatches(session, request.headers["x-csrf-token"])) {
        throw new HttpErrors.CSRF_INVALID();
      }
    }
    request.portalLicenseId = session.data.licenseId;
  });
  const licenseOf = (request: FastifyRequest) => request.portalLicenseId as string;

  app.post<{ Body: { license_key: string } }>(
    "/v1/portal/session",
    {
      schema: {
        summary: "Sign in to the license portal",
        description:
          "Takes a license key and answers with an httpOnly, SameSite=Strict session cookie and the CSRF " +
          "token. Unknown keys count against the address; past SMSTATS_WEB_PORTAL_SIGNIN_ATTEMPTS in the " +
          "window every sign-in is refused with 429 and Retry-After.",
        tags: ["portal"],
        // Sign-in itself: the license key comes in the body (OpenAPI's explicit "no credentials").
        security: [],
        body: {
          type: "object",
          required: ["license_key"],
          additionalProperties: false,
          properties: { license_key: { type: "string", minLength: 1, maxLength: 100 } },
        },
        response: {
          200: { type: "object", properties: { csrf_token: { type: "string" } } },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const licenseId = await portalSignIn(portal, request.ip, request.body.license_key.trim());
      const { id, csrf } = await sessions.create({ licenseId });
      reply.setCookie(sessions.cookie, id, sessionCookieOptions(request, sessions.ttlSeconds));
      return reply.header("cache-control", "no-store").send({ csrf_token: csrf });
    },
  );

  app.get(
    "/v1/portal/session",
    {
      config: { portalSession: true },
      schema: {
        summary: "The portal session's CSRF token",
        tags: ["portal"],
        security,
        response: { 200: { type: "object", properties: { csrf_token: { type: "string" } } }, ...errors },
      },
    },
    async (request, reply) => {
      const session = await sessions.get(request.cookies[sessions.cookie]);
      return reply.header("cache-control", "no-store").send({ csrf_token: session?.csrf });
    },
  );

  app.post(
    "/v1/portal/session/end",
    {
      config: { portalSession: true },
      schema: {
        summary: "Sign out of the portal",
        tags: ["portal"],
        security,
        response: { 204: { type: "null" }, ...errors },
      },
    },
    async (request, reply) => {
      await sessions.destroy(request.cookies[sessions.cookie]);
      reply.clearCookie(sessions.cookie, { path: "/" });
      return reply.code(204).send();
    },
  );

  app.get(
    "/v1/portal/license",
    {
      config: { portalSession: true },
      schema: {
        summary: "The signed-in license",
        description: "Tier, features, limits, expiry, seats used and transfers used in 30 days.",
        tags: ["portal"],
        security,
        response: {
          200: {
            type: "object",
            properties: {
              id: { type: "string" },
              key_hint: { type: "string" },
              tier: { type: "string" },
              tier_name: { type: "string" },
              features: { type: "array", items: { type: "string" } },
              limits: { type: "object", additionalProperties: { type: ["number", "null"] } },
              expires_at: { type: ["string", "null"] },
              revoked: { type: "boolean" },
              seats_used: { type: "integer" },
              seats_max: { type: "integer" },
              transfers_used: { type: "integer" },
              transfers_max: { type: "integer" },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => portalLicense(portal, licenseOf(request)),
  );

  app.get(
    "/v1/portal/devices",
    {
      config: { portalSession: true },
      schema: {
        summary: "Devices holding the license's seats",
        tags: ["portal"],
        security,
        response: { 200: { type: "array", items: device }, ...errors },
      },
    },
    async (request) => portalDevices(portal, licenseOf(request)),
  );

  app.post<{ Params: { instance_id: string } }>(
    "/v1/portal/devices/:instance_id/deactivate",
    {
      config: { portalSession: true },
      schema: {
        summary: "Free a device's seat",
        description:
          "A self-service deactivation: counts against the tier's transfers per 30 days (429 TRANSFER_LIMIT " +
          "with Retry-After past it).",
        tags: ["portal"],
        security,
        params: deviceParams,
        response: {
          200: {
            type: "object",
            properties: {
              instance_id: { type: "string" },
              license_id: { type: "string" },
              deactivated_at: { type: "string" },
              transfers_left: { type: "integer" },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const instanceId = request.params.instance_id;
      await requireDevice(portal, licenseOf(request), instanceId);
      return opts.licensing.deactivate({
        instanceId,
        ip: request.ip,
        userAgent: request.headers["user-agent"],
      });
    },
  );

  app.get<{ Params: { instance_id: string } }>(
    "/v1/portal/devices/:instance_id/offline-license",
    {
      config: { portalSession: true },
      schema: {
        summary: "Download an offline license file",
        description:
          "A signed lease for the device (verify it with licensing/client verifyLease and the keys of " +
          "/v1/keys, nonce from the file), for venues without internet.",
        tags: ["portal"],
        security,
        params: deviceParams,
        response: {
          200: {
            type: "object",
            properties: {
              format: { type: "string" },
              instance_id: { type: "string" },
              license_id: { type: "string" },
              nonce: { type: "string" },
              lease: { type: "string" },
              lease_expires_at: { type: "string" },
              issued_at: { type: "string" },
            },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const file = await offlineLicense(portal, licenseOf(request), request.params.instance_id);
      return reply
        .header("cache-control", "no-store")
        .header("content-disposition", `attachment; filename="smstats-offline-${file.instance_id}.json"`)
        .send(file);
    },
  );
}

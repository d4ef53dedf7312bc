import type { FastifyInstance, FastifyRequest } from "fastify";
import { HttpErrors } from "../../../../lib/http/index.ts";
import type { Caller, LicensingService, SessionStats } from "../../../../licensing/index.ts";
import {
  activateRouteSchema,
  type HeartbeatRequestBody,
  heartbeatRouteSchema,
  type LicenseBody,
  validateRouteSchema,
} from "./license-schema.ts";

/** Options of the license routes. */
export interface LicenseRoutesOptions {
  service: LicensingService;
  /** Keeps a heartbeat's session_stats; absent, they are accepted and not kept. */
  recordSessionStats?: (instanceId: string, stats: SessionStats) => Promise<void>;
}

/** The caller of an authenticated request; a body naming another instance is refused. */
export function callerOf(request: FastifyRequest, bodyInstanceId?: string): Caller {
  const instance = request.instance;
  if (!instance) throw new HttpErrors.TOKEN_MISSING();
  if (bodyInstanceId !== undefined && bodyInstanceId !== instance.instanceId)
    throw new HttpErrors.INSTANCE_MISMATCH();
  return { instanceId: instance.instanceId, ip: request.ip, userAgent: request.headers["user-agent"] };
}

/** POST /v1/auth/validate, /v1/auth/activate and /v1/auth/heartbeat (instance token and signature). */
export async function licenseRoutes(app: FastifyInstance, opts: LicenseRoutesOptions) {
  // A banned instance reaches the handlers: it is told BANNED (heartbeat: continue false) in a signed answer.
  const config = { auth: "instance" as const, allowBanned: true };
  app.post<{ Body: LicenseBody }>(
    "/v1/auth/validate",
    { schema: validateRouteSchema, config },
    async (request) => {
      const caller = callerOf(request, request.body.instance_id);
      return opts.service.validate(caller, {
        licenseKey: request.body.license_key,
        nonce: request.body.nonce,
        components: request.body.fingerprint,
        hwid: request.body.hwid,
      });
    },
  );
  app.post<{ Body: LicenseBody }>(
    "/v1/auth/activate",
    { schema: activateRouteSchema, config },
    async (request) => {
      const caller = callerOf(request, request.body.instance_id);
      // The schema requires these for activate: a seat is always bound to a fingerprint.
      return opts.service.activate(caller, {
        licenseKey: request.body.license_key as string,
        nonce: request.body.nonce as string,
        components: request.body.fingerprint as Record<string, string>,
      });
    },
  );
  app.post<{ Body: HeartbeatRequestBody }>(
    "/v1/auth/heartbeat",
    { schema: heartbeatRouteSchema, config },
    async (request) => {
      const caller = callerOf(request, request.body.instance_id);
      const answer = await opts.service.heartbeat(caller, {
        nonce: request.body.nonce,
        components: request.body.fingerprint,
      });
      // Kept after the answer is decided: a banned or revoked instance's figures are kept too (support
      // reads them), and a failure to keep them fails the request rather than being swallowed.
      const stats = request.body.session_stats;
      if (stats && opts.recordSessionStats) await opts.recordSessionStats(caller.instanceId, stats);
      return answer;
    },
  );
}

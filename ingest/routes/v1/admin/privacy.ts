import type { FastifyInstance } from "fastify";
import { HttpErrors } from "../../../../lib/http/index.ts";
import {
  answerErasure,
  ERASURE_DESCRIPTION,
  EXPORT_DESCRIPTION,
  erasureStatusSchema,
  exportResponses,
  type PrivacyRoutesOptions,
  sendExport,
} from "../privacy/index.ts";
import { type AdminAuthOptions, actorOf, adminAuth } from "./admin-auth.ts";

const security: { [name: string]: string[] }[] = [{ adminToken: [] }, { adminSession: [] }];
const params = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", format: "uuid" } },
} as const;

/**
 * The admin side of erasure and export: DELETE /v1/admin/instances/{id}/data (scope instances:write) and
 * GET /v1/admin/instances/{id}/export (scope instances:read), by admin token or console session.
 */
export async function adminPrivacyRoutes(
  app: FastifyInstance,
  opts: PrivacyRoutesOptions & AdminAuthOptions,
) {
  adminAuth(app, opts);
  app.delete<{ Params: { id: string } }>(
    "/v1/admin/instances/:id/data",
    {
      config: { adminScope: "instances:write" },
      schema: {
        summary: "Erase everything stored about an instance",
        description: `${ERASURE_DESCRIPTION} Scope instances:write.`,
        tags: ["admin", "privacy"],
        security,
        params,
        response: {
          200: erasureStatusSchema,
          202: erasureStatusSchema,
          "4xx": exportResponses["4xx"],
          "5xx": exportResponses["5xx"],
        },
      },
    },
    async (request, reply) =>
      answerErasure(reply, opts, {
        instanceId: request.params.id,
        actor: actorOf(request, opts.vault),
        via: "api",
      }),
  );
  app.get<{ Params: { id: string } }>(
    "/v1/admin/instances/:id/export",
    {
      config: { adminScope: "instances:read" },
      schema: {
        summary: "Export everything stored about an instance",
        description: `${EXPORT_DESCRIPTION} Scope instances:read.`,
        tags: ["admin", "privacy"],
        security,
        params,
        response: exportResponses,
      },
    },
    async (request, reply) => {
      const { rowCount } = await opts.pool.query("SELECT 1 FROM instances WHERE id = $1", [
        request.params.id,
      ]);
      if (!rowCount) throw new HttpErrors.INSTANCE_NOT_FOUND();
      return sendExport(reply, opts.exportDeps, request.params.id);
    },
  );
}

import type { FastifyInstance } from "fastify";
import { errorBodySchema } from "../../../../lib/http/index.ts";
import type { LicensingService } from "../../../../licensing/index.ts";
import { callerOf } from "../auth/license.ts";

/** Route schema of DELETE /v1/instances/{id} (also feeds the OpenAPI document). */
export const deactivateRouteSchema = {
  summary: "Deactivate this instance's license seat",
  description:
    "Self-service: frees the instance's seat so the license can move to another machine; the instance runs " +
    "as Starter. Each tier allows a number of such transfers per license per 30 days (429 TRANSFER_LIMIT " +
    "with Retry-After beyond it). Instance token and request signature required; {id} must be the token's.",
  tags: ["licensing"],
  params: {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string", format: "uuid" } },
  },
  response: {
    200: {
      type: "object",
      required: ["instance_id", "license_id", "deactivated_at", "transfers_left"],
      properties: {
        instance_id: { type: "string" },
        license_id: { type: "string" },
        deactivated_at: { type: "string", format: "date-time" },
        transfers_left: { type: "integer" },
      },
    },
    "4xx": errorBodySchema,
    "5xx": errorBodySchema,
  },
} as const;

/** DELETE /v1/instances/{id}: self-service deactivation with a transfer cap. */
export async function deactivateRoute(app: FastifyInstance, opts: { service: LicensingService }) {
  app.delete<{ Params: { id: string } }>(
    "/v1/instances/:id",
    { schema: deactivateRouteSchema, config: { auth: "instance" } },
    async (request) => {
      const caller = callerOf(request, request.params.id);
      return await opts.service.deactivate(caller);
    },
  );
}

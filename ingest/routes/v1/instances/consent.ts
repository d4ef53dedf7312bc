import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { errorBodySchema, HttpErrors } from "../../../../lib/http/index.ts";
import { CONSENT_FAMILIES, type Consent, changeConsent } from "../../../../licensing/index.ts";
import { callerOf } from "../auth/license.ts";

const flags = {
  quality: { type: "boolean", description: "quality metrics and the environment" },
  playback: { type: "boolean", description: "playback events" },
  session: { type: "boolean", description: "session events" },
  library: { type: "boolean", description: "library snapshots" },
} as const;

/** Route schema of PUT /v1/instances/{id}/consent (also feeds the OpenAPI document). */
export const consentRouteSchema = {
  summary: "Change this instance's telemetry consent",
  description:
    "Grants or withdraws consent per family (families left out keep their value). Applies to the next " +
    "batch: this process reads the new value at once, other ingest processes when PostgreSQL notifies " +
    "them at commit (their identity cache time, 2 s, if the notification is lost). Each family whose value changed is recorded with its time. Instance token and " +
    "request signature required; {id} must be the token's. The answer is signed (Sm-Signature).",
  tags: ["instances"],
  params: {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string", format: "uuid" } },
  },
  body: { type: "object", additionalProperties: false, minProperties: 1, properties: flags },
  response: {
    200: {
      type: "object",
      required: ["instance_id", "consent", "changed", "changed_at"],
      properties: {
        instance_id: { type: "string" },
        consent: { type: "object", required: Object.keys(flags), properties: flags },
        changed: {
          type: "array",
          items: { type: "string", enum: Object.keys(flags) },
          description: "families whose value this request changed",
        },
        changed_at: { type: "string", format: "date-time" },
      },
    },
    "4xx": errorBodySchema,
    "5xx": errorBodySchema,
  },
} as const;

/** Options of the consent route. */
export interface ConsentRouteOptions {
  pool: pg.Pool;
  /** Forgets the instance's cached identity (with its consent), so the next batch sees the change. */
  forget: (instanceId: string) => void;
}

/** PUT /v1/instances/{id}/consent: the instance changes its consent; recorded with its time. */
export async function consentRoute(app: FastifyInstance, opts: ConsentRouteOptions) {
  app.put<{ Params: { id: string }; Body: Partial<Consent> }>(
    "/v1/instances/:id/consent",
    { schema: consentRouteSchema, config: { auth: "instance" } },
    async (request) => {
      const caller = callerOf(request, request.params.id);
      // Checked here as well as by minProperties: unknown fields may be stripped before that check runs.
      if (!CONSENT_FAMILIES.some((f) => typeof request.body[f] === "boolean"))
        throw new HttpErrors.INVALID_BODY("name at least one of quality, playback, session, library");
      const change = await changeConsent(opts.pool, caller.instanceId, request.body);
      if (!change) throw new HttpErrors.INSTANCE_UNKNOWN();
      opts.forget(caller.instanceId);
      return {
        instance_id: caller.instanceId,
        consent: change.consent,
        changed: change.changed,
        changed_at: change.changedAt.toISOString(),
      };
    },
  );
}

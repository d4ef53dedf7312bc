import type { FastifyInstance } from "fastify";
import { errorBodySchema } from "../../../../lib/http/index.ts";
import type { SecretBox } from "../../../../licensing/index.ts";
import {
  createWebhookEndpoint,
  disableWebhookEndpoint,
  listDeliveries,
  listWebhookEndpoints,
  replayDelivery,
  WEBHOOK_EVENTS,
} from "../../../../webhooks/index.ts";
import { type AdminAuthOptions, actorOf, adminAuth } from "./admin-auth.ts";

/** Options of the outgoing-webhook admin routes. */
export interface WebhookAdminOptions extends AdminAuthOptions {
  box: SecretBox;
  allowRemote: boolean;
}

const errors = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;
const security: { [name: string]: string[] }[] = [{ adminToken: [] }, { adminSession: [] }];
const anyObject = { type: "object", additionalProperties: true } as const;
const listOf = (key: string) =>
  ({
    type: "object",
    required: [key],
    properties: { [key]: { type: "array", items: anyObject } },
  }) as const;
const idParam = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", format: "uuid" } },
} as const;

/** Outgoing webhooks under /v1/admin/webhooks: endpoints, the delivery log, replays. */
export async function webhookAdminRoutes(app: FastifyInstance, opts: WebhookAdminOptions) {
  adminAuth(app, opts);
  app.post<{ Body: { url: string; events: string[]; description?: string | null } }>(
    "/v1/admin/webhooks",
    {
      config: { adminScope: "webhooks:write" },
      schema: {
        summary: "Register a webhook endpoint",
        description: "Returns the signing secret once (Standard Webhooks, whsec_…). Scope webhooks:write.",
        tags: ["admin"],
        security,
        body: {
          type: "object",
          required: ["url", "events"],
          additionalProperties: false,
          properties: {
            url: { type: "string", minLength: 8, maxLength: 2000 },
            events: { type: "array", minItems: 1, items: { type: "string", enum: [...WEBHOOK_EVENTS] } },
            description: { type: ["string", "null"], maxLength: 500 },
          },
        },
        response: { 201: { type: "object", additionalProperties: true }, ...errors },
      },
    },
    async (request, reply) => {
      const created = await createWebhookEndpoint(opts.pool, opts.box, actorOf(request, opts.vault), {
        ...request.body,
        allowRemote: opts.allowRemote,
      });
      return reply.code(201).send(created);
    },
  );
  app.get(
    "/v1/admin/webhooks",
    {
      config: { adminScope: "webhooks:read" },
      schema: {
        summary: "List webhook endpoints",
        tags: ["admin"],
        security,
        response: { 200: listOf("endpoints"), ...errors },
      },
    },
    async () => ({ endpoints: await listWebhookEndpoints(opts.pool) }),
  );
  app.post<{ Params: { id: string } }>(
    "/v1/admin/webhooks/:id/disable",
    {
      config: { adminScope: "webhooks:write" },
      schema: {
        summary: "Disable a webhook endpoint",
        tags: ["admin"],
        security,
        params: idParam,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => disableWebhookEndpoint(opts.pool, actorOf(request, opts.vault), request.params.id),
  );
  app.get<{ Querystring: { endpoint?: string; status?: string; limit?: number } }>(
    "/v1/admin/webhooks/deliveries",
    {
      config: { adminScope: "webhooks:read" },
      schema: {
        summary: "The delivery log (each delivery with its attempts)",
        tags: ["admin"],
        security,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            endpoint: { type: "string", format: "uuid" },
            status: { type: "string", enum: ["pending", "delivered", "failed"] },
            limit: { type: "integer", minimum: 1, maximum: 1000 },
          },
        },
        response: { 200: listOf("deliveries"), ...errors },
      },
    },
    async (request) => ({
      deliveries: await listDeliveries(opts.pool, {
        endpointId: request.query.endpoint,
        status: request.query.status,
        limit: request.query.limit,
      }),
    }),
  );
  app.post<{ Params: { id: string } }>(
    "/v1/admin/webhooks/deliveries/:id/replay",
    {
      config: { adminScope: "webhooks:write" },
      schema: {
        summary: "Send a delivery again",
        tags: ["admin"],
        security,
        params: idParam,
        response: {
          200: { type: "object", required: ["replayed"], properties: { replayed: { type: "string" } } },
          ...errors,
        },
      },
    },
    async (request) => {
      await replayDelivery(opts.pool, actorOf(request, opts.vault), request.params.id);
      return { replayed: request.params.id };
    },
  );
}

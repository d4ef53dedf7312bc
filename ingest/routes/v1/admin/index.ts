import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { Counter } from "prom-client";
import { errorBodySchema } from "../../../../lib/http/index.ts";
import type { PiiVault } from "../../../../licensing/index.ts";
import {
  banInstanceByAdmin,
  issueLicense,
  listAudit,
  listLicenses,
  resetInstanceRegistration,
  revokeLicense,
  type SeatCache,
  showInstance,
  showLicense,
  unbanInstanceByAdmin,
} from "../../../../licensing/index.ts";
import type { SessionStore } from "../../../web/index.ts";
import { type AdminSessionData, actorOf, adminAuth } from "./admin-auth.ts";

/** Options of the admin API. */
export interface AdminRoutesOptions {
  pool: pg.Pool;
  vault: PiiVault;
  cache: SeatCache;
  refused: Counter<"code">;
  /** The console's sessions: its cookie is taken beside bearer tokens. */
  sessions?: SessionStore<AdminSessionData>;
}

const errors = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;
const security: { [name: string]: string[] }[] = [{ adminToken: [] }, { adminSession: [] }];
const anyObject = { type: "object", additionalProperties: true } as const;
const ref = {
  type: "object",
  required: ["ref"],
  properties: { ref: { type: "string", minLength: 1, maxLength: 64, description: "license id or full key" } },
} as const;
const instanceId = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", format: "uuid" } },
} as const;
const reasonBody = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: { type: "string", minLength: 1, maxLength: 500 } },
} as const;

/** The admin API under /v1/admin: licenses, instances and the audit log, each behind a token scope. */
export async function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions) {
  adminAuth(app, opts);
  const { pool, cache } = opts;

  app.post<{
    Body: {
      tier: string;
      owner_email: string;
      expires_at?: string | null;
      days?: number;
      max_instances?: number | null;
      billing_period?: "monthly" | "yearly" | "lifetime" | null;
      notes?: string | null;
    };
  }>(
    "/v1/admin/licenses",
    {
      config: { adminScope: "licenses:write" },
      schema: {
        summary: "Issue a license",
        description:
          "Creates a license and returns its key once (only a hash is kept). Scope licenses:write.",
        tags: ["admin"],
        security,
        body: {
          type: "object",
          required: ["tier", "owner_email"],
          additionalProperties: false,
          properties: {
            tier: { type: "string", description: "starter, party_host, venue (tier_policies)" },
            owner_email: { type: "string", format: "email", maxLength: 255 },
            expires_at: { type: ["string", "null"], format: "date-time" },
            days: {
              type: "integer",
              minimum: 1,
              maximum: 36500,
              description: "expires this many days from now",
            },
            max_instances: { type: ["integer", "null"], minimum: 1, maximum: 10000 },
            billing_period: { type: ["string", "null"], enum: ["monthly", "yearly", "lifetime", null] },
            notes: { type: ["string", "null"], maxLength: 1000 },
          },
        },
        response: {
          201: {
            type: "object",
            required: ["license", "key"],
            properties: { license: anyObject, key: { type: "string", description: "shown once" } },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const expiresAt = b.expires_at
        ? new Date(b.expires_at)
        : b.days
          ? new Date(Date.now() + b.days * 86_400_000)
          : null;
      const issued = await issueLicense(pool, opts.vault, actorOf(request, opts.vault), {
        tier: b.tier,
        ownerEmail: b.owner_email,
        expiresAt,
        maxInstances: b.max_instances,
        billingPeriod: b.billing_period,
        notes: b.notes,
      });
      return reply.code(201).header("cache-control", "no-store").send(issued);
    },
  );

  app.get<{ Querystring: { owner_email?: string; tier?: string; revoked?: boolean; limit?: number } }>(
    "/v1/admin/licenses",
    {
      config: { adminScope: "licenses:read" },
      schema: {
        summary: "List licenses",
        description: "Newest first. Scope licenses:read.",
        tags: ["admin"],
        security,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            owner_email: { type: "string" },
            tier: { type: "string" },
            revoked: { type: "boolean" },
            limit: { type: "integer", minimum: 1, maximum: 1000 },
          },
        },
        response: { 200: { type: "array", items: anyObject }, ...errors },
      },
    },
    async (request) =>
      listLicenses(pool, opts.vault, {
        ownerEmail: request.query.owner_email,
        tier: request.query.tier,
        revoked: request.query.revoked,
        limit: request.query.limit,
      }),
  );

  app.get<{ Params: { ref: string } }>(
    "/v1/admin/licenses/:ref",
    {
      config: { adminScope: "licenses:read" },
      schema: {
        summary: "Show a license and its activations",
        tags: ["admin"],
        security,
        params: ref,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => showLicense(pool, opts.vault, request.params.ref),
  );

  app.post<{ Params: { ref: string }; Body: { reason: string } }>(
    "/v1/admin/licenses/:ref/revoke",
    {
      config: { adminScope: "licenses:write" },
      schema: {
        summary: "Revoke a license",
        description: "Its instances answer REVOKED from the next request on. Scope licenses:write.",
        tags: ["admin"],
        security,
        params: ref,
        body: reasonBody,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) =>
      revokeLicense(
        pool,
        opts.vault,
        cache,
        actorOf(request, opts.vault),
        request.params.ref,
        request.body.reason,
      ),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/admin/instances/:id",
    {
      config: { adminScope: "instances:read" },
      schema: {
        summary: "Show an instance",
        tags: ["admin"],
        security,
        params: instanceId,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => showInstance(pool, opts.vault, request.params.id),
  );

  app.post<{ Params: { id: string }; Body: { reason: string; fingerprint?: boolean } }>(
    "/v1/admin/instances/:id/ban",
    {
      config: { adminScope: "instances:write" },
      schema: {
        summary: "Ban an instance",
        description:
          "Bans the instance and its hwid; with fingerprint=true also its machine fingerprint. Scope instances:write.",
        tags: ["admin"],
        security,
        params: instanceId,
        body: {
          ...reasonBody,
          properties: { ...reasonBody.properties, fingerprint: { type: "boolean" } },
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) =>
      banInstanceByAdmin(pool, opts.vault, cache, actorOf(request, opts.vault), request.params.id, {
        reason: request.body.reason,
        fingerprint: request.body.fingerprint,
      }),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/v1/admin/instances/:id/unban",
    {
      config: { adminScope: "instances:write" },
      schema: {
        summary: "Lift an instance's bans",
        tags: ["admin"],
        security,
        params: instanceId,
        body: reasonBody,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) =>
      unbanInstanceByAdmin(
        pool,
        opts.vault,
        cache,
        actorOf(request, opts.vault),
        request.params.id,
        request.body.reason,
      ),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/v1/admin/instances/:id/reset-registration",
    {
      config: { adminScope: "instances:write" },
      schema: {
        summary: "Reset an instance's registration",
        description:
          "For an owner who lost every credential: removes the instance's signing secret and refresh tokens " +
          "(its credentials stop working at once), so the next registration of its hwid claims it without " +
          "proof of possession. Audited. Scope instances:write.",
        tags: ["admin"],
        security,
        params: instanceId,
        body: reasonBody,
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) =>
      resetInstanceRegistration(
        pool,
        opts.vault,
        cache,
        actorOf(request, opts.vault),
        request.params.id,
        request.body.reason,
      ),
  );

  app.get<{ Querystring: { target_type?: string; target_id?: string; action?: string; limit?: number } }>(
    "/v1/admin/audit",
    {
      config: { adminScope: "audit:read" },
      schema: {
        summary: "Read the audit log",
        description:
          "Every admin action (CLI and API): actor, time, action, target, changes. Scope audit:read.",
        tags: ["admin"],
        security,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            target_type: { type: "string" },
            target_id: { type: "string" },
            action: { type: "string" },
            limit: { type: "integer", minimum: 1, maximum: 1000 },
          },
        },
        response: { 200: { type: "array", items: anyObject }, ...errors },
      },
    },
    async (request) =>
      listAudit(
        pool,
        {
          targetType: request.query.target_type,
          targetId: request.query.target_id,
          action: request.query.action,
          limit: request.query.limit,
        },
        opts.vault,
      ),
  );
}

import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { Counter } from "prom-client";
import { errorBodySchema, HttpErrors } from "../../../../lib/http/index.ts";
import type { PiiVault, SeatCache } from "../../../../licensing/index.ts";
import {
  adminTokenHash,
  extendLicense,
  instanceActivity,
  isUuid,
  listInstances,
  verifyAdminToken,
} from "../../../../licensing/index.ts";
import type { FleetStats, InstanceError, PipelineHealth } from "../../../admin-stats/index.ts";
import type { SequenceState } from "../../../sequence/sequence-tracker.ts";
import { type SessionStore, sessionCookieOptions } from "../../../web/index.ts";
import { type AdminSessionData, actorOf, adminAuth, authenticateAdmin } from "./admin-auth.ts";

/** Options of the console's own admin routes. */
export interface ConsoleRoutesOptions {
  pool: pg.Pool;
  vault: PiiVault;
  refused: Counter<"code">;
  sessions: SessionStore<AdminSessionData>;
  stats: FleetStats;
  pipeline: () => Promise<PipelineHealth>;
  /** An instance's sequence accounting (gaps) and its latest error reports. */
  sequenceState: (instanceId: string) => Promise<SequenceState>;
  /** Seat state cache, dropped for a license's instances when it is extended. */
  cache: SeatCache;
  recentErrors: (instanceId: string) => Promise<InstanceError[]>;
  /** Grafana's base URL for links, "" for none. */
  grafanaUrl: string;
}

const errors = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;
const security: { [name: string]: string[] }[] = [{ adminToken: [] }, { adminSession: [] }];
const anyObject = { type: "object", additionalProperties: true } as const;
const sessionBody = {
  type: "object",
  required: ["name", "scopes", "csrf_token", "grafana_url"],
  properties: {
    name: { type: "string" },
    scopes: { type: "array", items: { type: "string" } },
    csrf_token: { type: "string", description: "send as X-CSRF-Token on every unsafe console request" },
    grafana_url: { type: "string" },
    expires_in: { type: "integer" },
  },
} as const;

/**
 * The console's sign-in (an admin token for a session cookie) and the admin API it adds: the instance
 * list and the fleet figures. Every route but sign-in needs a principal with the route's scope.
 */
export async function consoleRoutes(app: FastifyInstance, opts: ConsoleRoutesOptions) {
  adminAuth(app, opts);
  const { pool, sessions } = opts;

  app.post<{ Body: { token: string } }>(
    "/v1/admin/session",
    {
      schema: {
        summary: "Sign in to the console",
        description:
          "Takes an admin token and answers with an httpOnly, SameSite=Strict session cookie (Secure over " +
          "TLS) and the session's CSRF token. The session checks the token on every request, so revoking it " +
          "ends the session.",
        tags: ["admin"],
        // Sign-in itself: the token comes in the body, no credentials before it (OpenAPI's explicit none).
        security: [],
        body: {
          type: "object",
          required: ["token"],
          additionalProperties: false,
          properties: { token: { type: "string", minLength: 1, maxLength: 200 } },
        },
        response: { 200: sessionBody, ...errors },
      },
    },
    async (request, reply) => {
      let principal: Awaited<ReturnType<typeof verifyAdminToken>>;
      try {
        principal = await verifyAdminToken(pool, request.body.token);
      } catch (err) {
        opts.refused.inc({ code: "ADMIN_TOKEN_INVALID" });
        throw err;
      }
      const { id, csrf } = await sessions.create({
        tokenHash: adminTokenHash(request.body.token).toString("hex"),
      });
      reply.setCookie(sessions.cookie, id, sessionCookieOptions(request, sessions.ttlSeconds));
      return reply.header("cache-control", "no-store").send({
        name: principal.name,
        scopes: principal.scopes,
        csrf_token: csrf,
        grafana_url: opts.grafanaUrl,
        expires_in: sessions.ttlSeconds,
      });
    },
  );

  app.get(
    "/v1/admin/session",
    {
      schema: {
        summary: "The console session",
        description: "Who is signed in, with which scopes, and the session's CSRF token.",
        tags: ["admin"],
        security,
        response: { 200: sessionBody, ...errors },
      },
    },
    async (request, reply) => {
      const session = await sessions.get(request.cookies[sessions.cookie]);
      if (!session) throw new HttpErrors.ADMIN_TOKEN_INVALID();
      const principal = await authenticateAdmin(request, opts);
      return reply.header("cache-control", "no-store").send({
        name: principal.name,
        scopes: principal.scopes,
        csrf_token: session.csrf,
        grafana_url: opts.grafanaUrl,
      });
    },
  );

  app.post(
    "/v1/admin/session/end",
    {
      schema: {
        summary: "Sign out of the console",
        tags: ["admin"],
        security,
        response: { 204: { type: "null" }, ...errors },
      },
    },
    async (request, reply) => {
      // Sign-out is an unsafe request too: a forged one must not end someone's session.
      await authenticateAdmin(request, opts);
      await sessions.destroy(request.cookies[sessions.cookie]);
      reply.clearCookie(sessions.cookie, { path: "/" });
      return reply.code(204).send();
    },
  );

  app.get<{
    Querystring: {
      q?: string;
      tier?: string;
      version?: string;
      platform?: string;
      banned?: boolean;
      seen_after?: string;
      seen_before?: string;
      cursor?: string;
      limit?: number;
    };
  }>(
    "/v1/admin/instances",
    {
      config: { adminScope: "instances:read" },
      schema: {
        summary: "List instances",
        description:
          "Newest registration first, with cursor paging (pass next_cursor back as cursor). Search q by " +
          "instance id, hwid or owner email (exact). Scope instances:read.",
        tags: ["admin"],
        security,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            q: { type: "string", maxLength: 255 },
            tier: { type: "string", maxLength: 32 },
            version: { type: "string", maxLength: 32 },
            platform: { type: "string", maxLength: 32 },
            banned: { type: "boolean" },
            seen_after: { type: "string", format: "date-time" },
            seen_before: { type: "string", format: "date-time" },
            cursor: { type: "string", maxLength: 200 },
            limit: { type: "integer", minimum: 1, maximum: 200, default: 50 },
          },
        },
        response: {
          200: {
            type: "object",
            required: ["items", "next_cursor"],
            properties: {
              items: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    id: { type: "string" },
                    hwid: { type: "string" },
                    platform: { type: ["string", "null"] },
                    version: { type: ["string", "null"] },
                    owner_email: { type: ["string", "null"] },
                    tier: { type: "string" },
                    registered_at: { type: "string" },
                    last_seen_at: { type: ["string", "null"] },
                    banned: { type: "boolean" },
                  },
                },
              },
              next_cursor: { type: ["string", "null"] },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const q = request.query;
      return listInstances(
        pool,
        opts.vault,
        {
          q: q.q,
          tier: q.tier,
          version: q.version,
          platform: q.platform,
          banned: q.banned,
          seenAfter: q.seen_after ? new Date(q.seen_after) : undefined,
          seenBefore: q.seen_before ? new Date(q.seen_before) : undefined,
        },
        { cursor: q.cursor, limit: q.limit ?? 50 },
      );
    },
  );

  app.post<{ Params: { ref: string }; Body: { days?: number; expires_at?: string } }>(
    "/v1/admin/licenses/:ref/extend",
    {
      config: { adminScope: "licenses:write" },
      schema: {
        summary: "Extend a license",
        description:
          "Moves the expiry to expires_at, or `days` past the later of now and the current expiry. Audited " +
          "(license.extend). Scope licenses:write.",
        tags: ["admin"],
        security,
        params: {
          type: "object",
          required: ["ref"],
          properties: { ref: { type: "string", minLength: 1, maxLength: 64 } },
        },
        body: {
          type: "object",
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: {
            days: { type: "integer", minimum: 1, maximum: 36500 },
            expires_at: { type: "string", format: "date-time" },
          },
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      const { days, expires_at } = request.body;
      return extendLicense(
        pool,
        opts.vault,
        opts.cache,
        actorOf(request, opts.vault),
        request.params.ref,
        expires_at ? { expiresAt: new Date(expires_at) } : { days: days as number },
      );
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/admin/instances/:id/activity",
    {
      config: { adminScope: "instances:read" },
      schema: {
        summary: "An instance's activity",
        description:
          "Activations (country, whether the fingerprint is the live seat's), the latest leases, consent, " +
          "sequence gaps and the latest error reports (7 days). Scope instances:read.",
        tags: ["admin"],
        security,
        params: { type: "object", required: ["id"], properties: { id: { type: "string", format: "uuid" } } },
        response: { 200: anyObject, ...errors },
      },
    },
    async (request) => {
      const id = request.params.id;
      if (!isUuid(id)) throw new HttpErrors.INSTANCE_NOT_FOUND();
      const [activity, sequence, recent] = await Promise.all([
        instanceActivity(pool, id),
        opts.sequenceState(id),
        // ClickHouse away must not take the page down: the errors section says so instead.
        opts.recentErrors(id).catch(() => null),
      ]);
      return { ...activity, sequence, recent_errors: recent };
    },
  );

  app.get(
    "/v1/admin/stats/overview",
    {
      config: { adminScope: "stats:read" },
      schema: {
        summary: "Fleet overview",
        description:
          "Active instances today / 7 / 30 days; by version, platform, tier and country (30 days); plays; " +
          "errors per instance-hour by version (7 days). From ClickHouse's rollups. Scope stats:read.",
        tags: ["admin"],
        security,
        response: { 200: anyObject, ...errors },
      },
    },
    async () => opts.stats.overview(),
  );

  app.get(
    "/v1/admin/stats/daily",
    {
      config: { adminScope: "stats:read" },
      schema: {
        summary: "Fleet figures per day",
        description:
          "Active instances (in all and by version) and plays per day over 30 days, column-wise. Scope stats:read.",
        tags: ["admin"],
        security,
        response: { 200: anyObject, ...errors },
      },
    },
    async () => opts.stats.daily(),
  );

  app.get(
    "/v1/admin/stats/pipeline",
    {
      config: { adminScope: "stats:read" },
      schema: {
        summary: "Pipeline health",
        description:
          "Ingest's accepted items (total and rate), JetStream lag of the processors' consumer and dead " +
          "letters, from the services' own state. Scope stats:read.",
        tags: ["admin"],
        security,
        response: { 200: anyObject, ...errors },
      },
    },
    async () => opts.pipeline(),
  );
}

import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { Counter } from "prom-client";
import type { Config } from "../../lib/config/index.ts";
import { deadLetterStreamName } from "../../lib/jetstream/index.ts";
import { createPolicyBook } from "../../licensing/index.ts";
import { createFleetStats, createInstanceErrors, createPipelineHealth } from "../admin-stats/index.ts";
import type { IngestDeps } from "../deps.ts";
import type { AdminSessionData } from "../routes/v1/admin/admin-auth.ts";
import { consoleRoutes } from "../routes/v1/admin/console.ts";
import { type PortalSessionData, portalRoutes } from "../routes/v1/portal/index.ts";
import { readSequenceState } from "../sequence/sequence-tracker.ts";
import { consolePages } from "./console-pages.ts";
import { createSessionStore, type SessionStore } from "./session-store.ts";

/** The console's session store (cookie smstats_admin), shared with the admin API. */
export function adminSessionStore(config: Readonly<Config>, redis: Redis): SessionStore<AdminSessionData> {
  return createSessionStore<AdminSessionData>({
    redis,
    prefix: config.redis.keyPrefix,
    kind: "admin",
    cookie: "smstats_admin",
    ttlSeconds: config.web.adminSessionSeconds,
  });
}

/** Options of the web console plugin. */
export interface WebConsoleOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
  refused: Counter<"code">;
  adminSessions: SessionStore<AdminSessionData>;
}

/**
 * Everything the browser pages need: the pages themselves (with security headers), the console's sign-in,
 * instance list and fleet figures, and the license portal's API.
 */
export async function webConsole(app: FastifyInstance, opts: WebConsoleOptions) {
  const { config, deps } = opts;
  await app.register(consolePages, { distDir: config.web.distDir });
  await app.register(consoleRoutes, {
    pool: deps.pg,
    vault: deps.vault,
    refused: opts.refused,
    sessions: opts.adminSessions,
    // Admin figures read ClickHouse's rollups (readonly=1); telemetry never goes this way.
    stats: createFleetStats(deps.clickhouse),
    pipeline: createPipelineHealth({
      metrics: deps.metrics,
      jsm: deps.jsm,
      stream: config.nats.stream,
      consumer: config.nats.consumer,
      deadLetterStream: deadLetterStreamName(config.nats),
    }),
    grafanaUrl: config.web.grafanaUrl,
    cache: deps.seatCache,
    sequenceState: (id) => readSequenceState(deps.redis, config.redis.keyPrefix, id),
    recentErrors: createInstanceErrors(deps.clickhouse),
  });
  await app.register(portalRoutes, {
    portal: {
      pool: deps.pg,
      abuse: deps.abuse,
      policies: createPolicyBook(deps.pg),
      signer: deps.signer,
      signInAttempts: config.web.portalSignInAttempts,
      signInWindowSeconds: config.web.portalSignInWindowSeconds,
    },
    licensing: deps.licensing,
    sessions: createSessionStore<PortalSessionData>({
      redis: deps.redis,
      prefix: config.redis.keyPrefix,
      kind: "portal",
      cookie: "smstats_portal",
      ttlSeconds: config.web.portalSessionSeconds,
    }),
  });
}

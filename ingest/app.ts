import cookie from "@fastify/cookie";
import type { FastifyInstance } from "fastify";
import { Counter } from "prom-client";
import { serverExecutor } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import {
  type CutReason,
  clientErrorHandler,
  createHttpServer,
  guardConnections,
  metricsPlugin,
  serverTimeouts,
} from "../lib/http/index.ts";
import { durationHistogram } from "../lib/metrics/index.ts";
import { createSuspiciousCheck, recordSessionStats, verifyRequestSignature } from "../licensing/index.ts";
import authenticate from "./auth/authenticate.ts";
import type { IngestDeps } from "./deps.ts";
import bodyParsers from "./plugins/body-parsers.ts";
import errorMapping from "./plugins/error-mapping.ts";
import healthChecks from "./plugins/health-checks.ts";
import loadShedding from "./plugins/load-shedding.ts";
import openapi from "./plugins/openapi.ts";
import { registrationThrottle } from "./plugins/registration-throttle.ts";
import { signAnswers } from "./plugins/signed-answers.ts";
import { adminRoutes } from "./routes/v1/admin/index.ts";
import { adminPrivacyRoutes } from "./routes/v1/admin/privacy.ts";
import { webhookAdminRoutes } from "./routes/v1/admin/webhooks.ts";
import { licenseRoutes, refreshRoute } from "./routes/v1/auth/index.ts";
import { consentRoute, deactivateRoute, registerRoute } from "./routes/v1/instances/index.ts";
import { keysRoute } from "./routes/v1/keys/index.ts";
import {
  erasureStatusRoute,
  instancePrivacyRoutes,
  type PrivacyRoutesOptions,
} from "./routes/v1/privacy/index.ts";
import { batchRoute } from "./routes/v1/stats/batch.ts";
import { createErrorReportCounter } from "./routes/v1/stats/error-reports.ts";
import { incomingWebhookRoutes } from "./routes/v1/webhooks/index.ts";
import { ingestHttpsOptions } from "./tls.ts";
import { adminSessionStore, webConsole } from "./web/web-console.ts";
import {
  createIngestErasureWorker,
  digestSchedule,
  erasureJobs,
  expiryNotices,
  seatReaper,
  webhookDeliveries,
} from "./workers/index.ts";

/** A counter of refusals by code, in the deps' registry. */
function refusals(deps: IngestDeps, name: string, help: string): Counter<"code"> {
  return new Counter({ name, help, labelNames: ["code"], registers: [deps.metrics] });
}

/**
 * The HTTP(S) server with its connection hygiene: timeouts, per-address limit, bad HTTP cut and counted.
 * HTTPS (TLS 1.3 minimum) when config.ingest.tls names a certificate and key.
 */
function createIngestServer(config: Readonly<Config>, deps: IngestDeps): FastifyInstance {
  const cuts = new Counter({
    name: "smstats_http_connections_cut_total",
    help: "Connections cut before a route answered them (timeouts, per-address limit, bad HTTP), by reason.",
    labelNames: ["reason"],
    registers: [deps.metrics],
  });
  const onCut = (reason: CutReason) => cuts.inc({ reason });
  const https = ingestHttpsOptions(config.ingest.tls);
  const app = createHttpServer(deps.log, {
    ...(https ? { https } : {}),
    bodyLimit: config.ingest.bodyLimit,
    return503OnClosing: true,
    // Header, request and idle timeouts checked every second, so slow clients are actually cut.
    ...serverTimeouts(config.ingest.timeouts),
    clientErrorHandler: clientErrorHandler(onCut),
    // request.ip (the country's source) is the socket peer unless that peer is a configured proxy.
    trustProxy: config.ingest.trustProxy.length > 0 ? [...config.ingest.trustProxy] : false,
  });
  guardConnections(app.server, {
    maxPerAddress: config.ingest.maxConnectionsPerAddress,
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    onCut,
    tls: https !== undefined,
  });
  return app;
}

/** The configured suspicious patterns as a check, counted in the licensing metrics. */
function suspiciousCheck(config: Readonly<Config>, deps: IngestDeps) {
  return createSuspiciousCheck({
    patterns: config.abuse.suspiciousPatterns,
    pool: deps.pg,
    abuse: deps.abuse,
    metrics: deps.licensingMetrics,
  });
}

/** The licensing routes an instance calls; their answers are signed (the Sm-Signature hook). */
async function instanceRoutes(
  scope: FastifyInstance,
  { config, deps, privacy }: { config: Readonly<Config>; deps: IngestDeps; privacy: PrivacyRoutesOptions },
) {
  signAnswers(scope, deps.signer);
  const suspicious = suspiciousCheck(config, deps);
  const abuse = deps.licensingMetrics.abuse;
  scope.addHook("onError", async (_request, _reply, err) => {
    if ((err as { code?: string }).code === "RATE_LIMITED") abuse.inc({ rule: "requests_per_minute" });
  });
  const tokenOptions = {
    pool: deps.pg,
    ring: deps.ring,
    tokenTtlSeconds: config.tokens.ttlSeconds,
    refreshTtlSeconds: config.tokens.refreshTtlSeconds,
  };
  await scope.register(registerRoute, {
    ...tokenOptions,
    vault: deps.vault,
    limitRegistrations: registrationThrottle(config, deps),
    onBanned: () => abuse.inc({ rule: "banned_hwid" }),
    onHwidInUse: () => abuse.inc({ rule: "hwid_in_use" }),
    onRotated: (instanceId) => deps.seatCache.invalidate([instanceId]),
    checkSuspicious: suspicious,
    signatureWindowMs: config.ingest.signatureWindowMs,
  });
  await scope.register(refreshRoute, tokenOptions);
  await scope.register(licenseRoutes, {
    service: deps.licensing,
    recordSessionStats: (instanceId, stats) => recordSessionStats(deps.pg, instanceId, stats),
  });
  await scope.register(deactivateRoute, { service: deps.licensing });
  await scope.register(consentRoute, {
    pool: deps.pg,
    forget: (instanceId) => deps.identities.forget(instanceId),
  });
  await scope.register(keysRoute, { ring: deps.ring });
  await scope.register(instancePrivacyRoutes, privacy);
}

/**
 * Builds the ingest HTTP app on given dependencies: a list of registrations, in the order requests meet
 * them. It never listens: server.ts does, tests use inject().
 */
export async function buildApp(config: Readonly<Config>, deps: IngestDeps): Promise<FastifyInstance> {
  const app = createIngestServer(config, deps);
  const env = { config, deps };
  await app.register(openapi);
  await app.register(errorMapping, env);
  // First among the request hooks: a request shed costs no authentication work.
  await app.register(loadShedding, {
    ...config.ingest.shedding,
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    registry: deps.metrics,
  });
  // Counts answers only: /metrics is served on its own listener (metrics-listener.ts), not to instances.
  await app.register(metricsPlugin, {
    registry: deps.metrics,
    tierOf: (request) => request.instance?.tier,
    serve: false,
  });
  await app.register(healthChecks, env);
  // Where a batch request waits on a store: the Redis admission and JetStream's acknowledgement.
  const storeWaits = durationHistogram(
    deps.metrics,
    "smstats_ingest_store_wait_seconds",
    "Time a batch request waited on a store, by what it waited on (redis_admit, jetstream_ack).",
    ["on"],
  );
  await app.register(authenticate, {
    verifyToken: async (token) => {
      const claims = await deps.tokens.verify(token);
      return { instanceId: claims.sub, tier: claims.tier };
    },
    identities: deps.identities,
    verifySignature: verifyRequestSignature,
    guard: deps.guard,
    rateLimitFor: (tier) => config.ingest.rateLimit.perTier[tier] ?? config.ingest.rateLimit.defaultPerMinute,
    badSignaturesPerMinute: config.ingest.badSignaturesPerMinute,
    // Only the user agent is known on every request; version and hwid are checked at registration.
    checkSuspicious: config.abuse.suspiciousPatterns.some((p) => p.field === "user_agent")
      ? suspiciousCheck(config, deps)
      : undefined,
    signatureWindowMs: config.ingest.signatureWindowMs,
    admitted: (s) => storeWaits.observe({ on: "redis_admit" }, s),
    refused: refusals(
      deps,
      "smstats_auth_refused_total",
      "Instance requests refused by authentication, signature or rate limit, by code.",
    ),
  });
  // After authenticate: bodies are decompressed only once their signature is verified.
  await app.register(bodyParsers, {
    maxOutput: config.ingest.maxDecompressed,
    maxWindow: config.ingest.zstdMaxWindow,
    maxWork: config.ingest.zstdMaxWork,
  });
  // Erasure and export (privacy/): the instance's own routes, the admin's, the job status and the worker.
  const erasureWorker = createIngestErasureWorker(config, deps);
  const privacy: PrivacyRoutesOptions = {
    pool: deps.pg,
    box: deps.box,
    vault: deps.vault,
    wake: () => erasureWorker.wake(),
    exportDeps: {
      pg: deps.pg,
      clickhouse: serverExecutor(config.clickhouse, deps.clickhouse),
      clickhouseClient: deps.clickhouse,
      clickhouseCluster: config.clickhouse.cluster,
    },
  };
  await app.register(instanceRoutes, { ...env, privacy });
  await app.register(erasureStatusRoute, { pool: deps.pg });
  await app.register(cookie);
  const adminRefused = refusals(deps, "smstats_admin_refused_total", "Admin API requests refused, by code.");
  // The console and the portal: their pages, sessions and the API they add (see web/web-console.ts).
  const adminSessions = adminSessionStore(config, deps.redis);
  await app.register(webConsole, { config, deps, refused: adminRefused, adminSessions });
  await app.register(adminRoutes, {
    pool: deps.pg,
    vault: deps.vault,
    cache: deps.seatCache,
    refused: adminRefused,
    sessions: adminSessions,
  });
  await app.register(adminPrivacyRoutes, { ...privacy, refused: adminRefused, sessions: adminSessions });
  await app.register(webhookAdminRoutes, {
    pool: deps.pg,
    vault: deps.vault,
    box: deps.box,
    allowRemote: config.webhooks.allowRemote,
    refused: refusals(
      deps,
      "smstats_webhook_admin_refused_total",
      "Webhook admin API requests refused, by code.",
    ),
    sessions: adminSessions,
  });
  await app.register(incomingWebhookRoutes, {
    payments: deps.payments,
    pool: deps.pg,
    stripe: {
      secret: config.payments.stripeSecret,
      toleranceSeconds: config.payments.stripeToleranceSeconds,
    },
    lemonSqueezySecret: config.payments.lemonSqueezySecret,
    alertsToken: config.alerts.intakeToken,
  });
  await app.register(batchRoute, {
    publisher: deps.publisher,
    acked: (s) => storeWaits.observe({ on: "jetstream_ack" }, s),
    registry: deps.schemas,
    sequences: deps.sequences,
    metrics: deps.metrics,
    maxItems: config.ingest.maxMetrics,
    errorReports: createErrorReportCounter(
      deps.redis,
      config.redis.keyPrefix,
      config.abuse.maxErrorReportsPerHour,
    ),
    onErrorReportsDropped: (n) => deps.licensingMetrics.abuse.inc({ rule: "error_reports_per_hour" }, n),
    time: { futureToleranceMs: config.ingest.futureToleranceMs, maxAgeMs: config.ingest.maxEventAgeMs },
  });
  // Background work, started once the app is ready and stopped when it closes.
  await app.register(webhookDeliveries, env);
  await app.register(expiryNotices, env);
  await app.register(digestSchedule, env);
  await app.register(seatReaper, env);
  await app.register(erasureJobs, { worker: erasureWorker });
  return app;
}

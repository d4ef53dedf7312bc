import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { Counter } from "prom-client";
import { readPipelineHealth, scheduleDigest } from "../digest/index.ts";
import { serverExecutor, storeOutageOf, urlPort } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import {
  type CutReason,
  clientErrorHandler,
  createHttpServer,
  createOutageTracker,
  errorHandler,
  guardConnections,
  health,
  metricsPlugin,
  serverTimeouts,
} from "../lib/http/index.ts";
import { LicensingError, recordSessionStats, verifyRequestSignature } from "../licensing/index.ts";
import { sendExpiryNotices } from "../payments/index.ts";
import authenticate from "./auth/authenticate.ts";
import type { IngestDeps } from "./deps.ts";
import bodyParsers from "./plugins/body-parsers.ts";
import loadShedding from "./plugins/load-shedding.ts";
import routeDocs, { securitySchemes } from "./plugins/route-docs.ts";
import { signAnswers } from "./plugins/signed-answers.ts";
import { adminRoutes } from "./routes/v1/admin/index.ts";
import { webhookAdminRoutes } from "./routes/v1/admin/webhooks.ts";
import { licenseRoutes, refreshRoute } from "./routes/v1/auth/index.ts";
import { consentRoute, deactivateRoute, registerRoute } from "./routes/v1/instances/index.ts";
import { keysRoute } from "./routes/v1/keys/index.ts";
import { batchRoute } from "./routes/v1/stats/batch.ts";
import { incomingWebhookRoutes } from "./routes/v1/webhooks/index.ts";
import { adminSessionStore, webConsole } from "./web/web-console.ts";

/**
 * Builds the ingest HTTP app on given dependencies. It never listens: server.ts does, tests use inject().
 */
export async function buildApp(config: Readonly<Config>, deps: IngestDeps): Promise<FastifyInstance> {
  const cuts = new Counter({
    name: "smstats_http_connections_cut_total",
    help: "Connections cut before a route answered them (timeouts, per-address limit, bad HTTP), by reason.",
    labelNames: ["reason"],
    registers: [deps.metrics],
  });
  const onCut = (reason: CutReason) => cuts.inc({ reason });
  const app = createHttpServer(deps.log, {
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
  });
  const errors = new Counter({
    name: "smstats_http_errors_total",
    help: "Error responses, by stable error code.",
    labelNames: ["code"],
    registers: [deps.metrics],
  });
  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema, so type lists, nulls and every constraint of the routes show.
      openapi: "3.1.0",
      info: {
        title: "SongMartyn Stats",
        version: "1",
        description: "Telemetry ingest and instance identity for SongMartyn instances.",
      },
      tags: [
        { name: "telemetry", description: "Telemetry batches" },
        { name: "instances", description: "Registration and tokens" },
        {
          name: "licensing",
          description:
            "Activation, validation with signed leases, heartbeats, deactivation and the public keys. Every " +
            "answer is signed (Sm-Signature)",
        },
        {
          name: "admin",
          description:
            "Licenses, instances, fleet figures and the audit log; admin token with scopes, or the console's " +
            "session cookie with its CSRF token",
        },
        {
          name: "portal",
          description: "The license portal: a license owner's session, devices, offline file",
        },
        { name: "payments", description: "Incoming webhooks: Stripe, Lemon Squeezy, Grafana alerts" },
        { name: "health", description: "Liveness, readiness and metrics" },
      ],
      components: { securitySchemes },
    },
  });
  await app.register(routeDocs);
  // A Redis or PostgreSQL outage is answered 503 with Retry-After, and it (or NATS's, answered 503
  // PIPELINE_UNAVAILABLE by the publisher) is logged once when it starts and once when it ends (the
  // tracker probes the dependency meanwhile), not per request.
  const outages = createOutageTracker({
    log: deps.log,
    probes: {
      redis: () => deps.redis.ping(),
      postgres: () => deps.pg.query("SELECT 1"),
      nats: async () => {
        if (!deps.nats.connected()) throw new Error("not connected");
        await deps.jsm.streams.info(config.nats.stream);
      },
    },
    probeEveryMs: 1000,
    outages: new Counter({
      name: "smstats_dependency_outages_total",
      help: "Outages of a dependency ingest needs (redis, postgres, nats), counted when the first request meets one.",
      labelNames: ["dependency"],
      registers: [deps.metrics],
    }),
  });
  app.addHook("onClose", async () => outages.close());
  const storePorts = { redis: urlPort(config.redis.url, 6379), postgres: urlPort(config.postgres.url, 5432) };
  await app.register(errorHandler, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    onError: (code) => errors.inc({ code }),
    dependencyOf: (err) => storeOutageOf(err, storePorts),
    onDependencyDown: (dependency, err) => outages.report(dependency, err),
    outageCodes: { PIPELINE_UNAVAILABLE: "nats" },
  });
  // First among the request hooks: a request shed costs no authentication work.
  await app.register(loadShedding, {
    ...config.ingest.shedding,
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    registry: deps.metrics,
  });
  await app.register(metricsPlugin, { registry: deps.metrics, tierOf: (request) => request.instance?.tier });
  await app.register(health, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    timeoutMs: config.ingest.healthTimeoutMs,
    checks: {
      nats: {
        path: "/health/nats",
        required: true,
        run: async () => {
          if (!deps.nats.connected()) throw new Error("not connected");
          await deps.jsm.streams.info(config.nats.stream);
        },
      },
      postgres: { path: "/health/db", required: true, run: () => deps.pg.query("SELECT 1") },
      redis: { path: "/health/redis", required: true, run: () => deps.redis.ping() },
      // Ingest does not depend on ClickHouse (JetStream buffers while it is away): /health/clickhouse
      // reports it, readiness does not wait for it.
      clickhouse: {
        path: "/health/clickhouse",
        required: false,
        run: async () => {
          const r = await deps.clickhouse.ping();
          if (!r.success) throw r.error;
        },
      },
    },
  });
  await app.register(authenticate, {
    verifyToken: async (token) => {
      const claims = await deps.tokens.verify(token);
      return { instanceId: claims.sub, tier: claims.tier };
    },
    identities: deps.identities,
    verifySignature: verifyRequestSignature,
    guard: deps.guard,
    rateLimitFor: (tier) => config.ingest.rateLimit.perTier[tier] ?? config.ingest.rateLimit.defaultPerMinute,
    signatureWindowMs: config.ingest.signatureWindowMs,
    refused: new Counter({
      name: "smstats_auth_refused_total",
      help: "Instance requests refused by authentication, signature or rate limit, by code.",
      labelNames: ["code"],
      registers: [deps.metrics],
    }),
  });
  // After authenticate: bodies are decompressed only once their signature is verified.
  await app.register(bodyParsers, {
    maxOutput: config.ingest.maxDecompressed,
    maxWindow: config.ingest.zstdMaxWindow,
    maxWork: config.ingest.zstdMaxWork,
  });
  const tokenOptions = {
    pool: deps.pg,
    ring: deps.ring,
    tokenTtlSeconds: config.tokens.ttlSeconds,
    refreshTtlSeconds: config.tokens.refreshTtlSeconds,
  };
  const abuseCounter = deps.licensingMetrics.abuse;
  // Licensing answers are signed: the routes in this scope get the Sm-Signature hook.
  await app.register(async (scope) => {
    signAnswers(scope, deps.signer);
    scope.addHook("onError", async (_request, _reply, err) => {
      if ((err as { code?: string }).code === "RATE_LIMITED")
        abuseCounter.inc({ rule: "requests_per_minute" });
    });
    await scope.register(registerRoute, {
      ...tokenOptions,
      box: deps.box,
      limitRegistrations: async (ip) => {
        const v = await deps.abuse.hitAndCheck(
          "registrations_per_address",
          ip,
          config.licensing.registrationsPerHour,
          3600,
        );
        if (v.blocked) {
          throw new LicensingError("REGISTRATIONS_LIMITED", "too many registrations from this address", {
            retryAfterSeconds: v.retryAfterSeconds,
          });
        }
      },
      onBanned: () => abuseCounter.inc({ rule: "banned_hwid" }),
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
  });
  await app.register(cookie);
  const adminRefused = new Counter({
    name: "smstats_admin_refused_total",
    help: "Admin API requests refused, by code.",
    labelNames: ["code"],
    registers: [deps.metrics],
  });
  // The console and the portal: their pages, sessions and the API they add (see web/web-console.ts).
  const adminSessions = adminSessionStore(config, deps.redis);
  await app.register(webConsole, { config, deps, refused: adminRefused, adminSessions });
  await app.register(adminRoutes, {
    pool: deps.pg,
    cache: deps.seatCache,
    refused: adminRefused,
    sessions: adminSessions,
  });
  const webhookAdminRefused = new Counter({
    name: "smstats_webhook_admin_refused_total",
    help: "Webhook admin API requests refused, by code.",
    labelNames: ["code"],
    registers: [deps.metrics],
  });
  await app.register(webhookAdminRoutes, {
    pool: deps.pg,
    box: deps.box,
    allowRemote: config.webhooks.allowRemote,
    refused: webhookAdminRefused,
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
  app.addHook("onReady", async () => deps.deliveries.start());
  app.addHook("onClose", async () => deps.deliveries.stop());
  // Owners hear a week before their license expires.
  let notices: NodeJS.Timeout | undefined;
  if (config.mail.expiryNoticeIntervalMs > 0) {
    app.addHook("onReady", async () => {
      notices = setInterval(() => {
        sendExpiryNotices(deps.pg, deps.mailer, deps.log).catch((err) =>
          deps.log.warn({ err }, "expiry notices failed"),
        );
      }, config.mail.expiryNoticeIntervalMs);
      notices.unref();
    });
    app.addHook("onClose", async () => clearInterval(notices));
  }
  // The weekly admin digest, when a schedule and recipients are configured.
  if (config.digest.cron && config.digest.to.length > 0) {
    const ch = serverExecutor(config.clickhouse);
    let digest: { stop(): void } | undefined;
    app.addHook("onReady", async () => {
      digest = scheduleDigest({
        cron: config.digest.cron,
        to: config.digest.to,
        pool: deps.pg,
        mailer: deps.mailer,
        log: deps.log,
        sources: () => ({
          ch,
          pg: deps.pg,
          pipeline: () => readPipelineHealth(deps.jsm, deps.redis, config),
        }),
      });
    });
    app.addHook("onClose", async () => {
      digest?.stop();
      await ch.close();
    });
  }
  // Seats whose heartbeats stopped are freed in the background too, not only when a seat is wanted.
  let reaper: NodeJS.Timeout | undefined;
  app.addHook("onReady", async () => {
    reaper = setInterval(() => {
      deps.licensing.reapDeadSeats().catch((err) => deps.log.warn({ err }, "freeing dead seats failed"));
    }, config.licensing.reapIntervalMs);
    reaper.unref();
  });
  app.addHook("onClose", async () => clearInterval(reaper));
  await app.register(batchRoute, {
    publisher: deps.publisher,
    registry: deps.schemas,
    sequences: deps.sequences,
    metrics: deps.metrics,
    maxItems: config.ingest.maxMetrics,
    time: { futureToleranceMs: config.ingest.futureToleranceMs, maxAgeMs: config.ingest.maxEventAgeMs },
  });
  app.get("/docs/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}

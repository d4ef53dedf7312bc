import type { ClickHouseClient } from "@clickhouse/client";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import {
  connectNats,
  connectRedis,
  createClickHouseClient,
  createPgPool,
  type NatsHandle,
  registerPostgresGauges,
} from "../lib/clients/index.ts";
import { type Config, requirePostgresRole } from "../lib/config/index.ts";
import { batchSubject, reconcileTelemetryStream, telemetryStreamConfig } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { createRegistry } from "../lib/metrics/index.ts";
import {
  type AbuseGuard,
  type AnswerSigner,
  createAbuseGuard,
  createAnswerSigner,
  createLicensingService,
  createPolicyBook,
  createSeatCache,
  createTokenVerifier,
  type KeyRing,
  type LicensingMetrics,
  type LicensingService,
  licensingMetrics,
  loadInstanceAuth,
  loadKeyRing,
  loadPiiVault,
  loadSeatState,
  loadSecretBox,
  type PiiVault,
  type SeatCache,
  type SecretBox,
  subscribeInstanceChanges,
  type TokenVerifier,
} from "../licensing/index.ts";
import { createMailer, type Mailer } from "../mail/index.ts";
import { createPaymentProcessor, type PaymentProcessor } from "../payments/index.ts";
import { SchemaRegistry } from "../schemas/index.ts";
import { createDeliveryWorker, type DeliveryWorker } from "../webhooks/index.ts";
import { listenForConsentChanges } from "./auth/consent-listener.ts";
import { createIdentityCache, type IdentityCache } from "./auth/identity-cache.ts";
import { createRequestGuard, type RequestGuard } from "./auth/request-guard.ts";
import { type BatchPublisher, createBatchPublisher } from "./publish/batch-publisher.ts";
import { createSequenceTracker, type SequenceTracker } from "./sequence/sequence-tracker.ts";

/** Everything the ingest app talks to, created once per process and closed on shutdown. */
export interface IngestDeps {
  log: Logger;
  metrics: Registry;
  nats: NatsHandle;
  jsm: JetStreamManager;
  schemas: SchemaRegistry;
  publisher: BatchPublisher;
  pg: pg.Pool;
  redis: Redis;
  /** Only pinged by /health: ingest never writes to ClickHouse. */
  clickhouse: ClickHouseClient;
  ring: KeyRing;
  box: SecretBox;
  /** Owner emails and client addresses sealed at rest, with their blind indexes. */
  vault: PiiVault;
  tokens: TokenVerifier;
  identities: IdentityCache;
  guard: RequestGuard;
  sequences: SequenceTracker;
  /** Licensing: answer signer, seat-state cache, abuse counters, the service, and their counters. */
  signer: AnswerSigner;
  seatCache: SeatCache;
  abuse: AbuseGuard;
  licensing: LicensingService;
  licensingMetrics: LicensingMetrics;
  /** Mail (SMTP), payment events → licenses, and the outgoing-webhook delivery worker. */
  mailer: Mailer;
  payments: PaymentProcessor;
  deliveries: DeliveryWorker;
  close(): Promise<void>;
}

/** Connects to the stack, reconciles the stream, loads the keys, and returns the ingest's dependencies. */
export async function createIngestDeps(config: Readonly<Config>, log: Logger): Promise<IngestDeps> {
  const nats = await connectNats(config.nats.servers, "smstats-ingest", log, config.nats.tls);
  const jsm = await jetstreamManager(nats.nc);
  await reconcileTelemetryStream(jsm, config, log);
  const schemas = new SchemaRegistry();
  const publisher = createBatchPublisher({
    nats,
    js: jetstream(nats.nc),
    registry: schemas,
    subject: batchSubject(config.nats),
    timeoutMs: config.ingest.publishTimeoutMs,
    maxMessageBytes: telemetryStreamConfig(config.nats, config.ingest.bodyLimit).max_msg_size as number,
  });
  // The write role: rows only, no DDL, and the audit log append-only (licensing migration 0004).
  const pool = createPgPool(requirePostgresRole(config, "write"), "smstats-ingest", 10, config.postgres.tls);
  const redis = await connectRedis(config.redis.url, "smstats-ingest", config.redis.tls);
  const clickhouse = createClickHouseClient(config.clickhouse);
  const ring = await loadKeyRing(config.dataDir);
  const box = await loadSecretBox(config.dataDir);
  const prefix = config.redis.keyPrefix;
  const metrics = createRegistry("ingest");
  const unreadable = new Counter({
    name: "smstats_pii_unreadable_total",
    help: "Sealed emails or addresses that did not open (a key no longer held, or altered), by kind.",
    labelNames: ["kind"],
    registers: [metrics],
  });
  const vault = await loadPiiVault(config.dataDir, box, { onUnreadable: (kind) => unreadable.inc({ kind }) });
  const lm = licensingMetrics(metrics);
  registerPostgresGauges(metrics, pool);
  const signer = createAnswerSigner(ring);
  const seatCache = createSeatCache({
    redis,
    prefix,
    ttlSeconds: config.licensing.cacheTtlSeconds,
    load: (id) => loadSeatState(pool, id),
    metrics: lm,
  });
  const abuse = createAbuseGuard(redis, prefix, lm, (subject) => vault.addressTag(subject));
  const licensing = createLicensingService({
    pool,
    cache: seatCache,
    policies: createPolicyBook(pool),
    signer,
    abuse,
    metrics: lm,
    limits: config.licensing,
    vault,
  });
  const mailer = createMailer({ ...config.mail, metrics });
  const payments = createPaymentProcessor({
    pool,
    cache: seatCache,
    vault,
    mailer,
    graceDays: config.payments.graceDays,
    log,
    metrics,
  });
  const deliveries = createDeliveryWorker({ pool, box, settings: config.webhooks, log, metrics });
  const identities = createIdentityCache(
    (id) => loadInstanceAuth(pool, box, id),
    config.ingest.identityCacheMs,
  );
  // A consent change made through any process reaches this one's cache at commit (see the listener).
  const consentListener = listenForConsentChanges(
    requirePostgresRole(config, "write"),
    (id) => identities.forget(id),
    log,
  );
  // A revoke, ban, downgrade or new seat is published by the seat cache's invalidation: this process drops
  // the instance's identity at once, so its tier (rate limit) and ban apply within a second, not at the
  // cache's TTL or the token's expiry.
  const stopChanges = await subscribeInstanceChanges(redis, prefix, (id) => identities.forget(id));
  const sequences = createSequenceTracker(redis, prefix);
  return {
    log,
    metrics,
    mailer,
    payments,
    deliveries,
    signer,
    seatCache,
    abuse,
    licensing,
    licensingMetrics: lm,
    nats,
    jsm,
    schemas,
    publisher,
    pg: pool,
    redis,
    clickhouse,
    ring,
    box,
    vault,
    tokens: createTokenVerifier(ring, {
      cacheSize: config.tokens.cacheSize,
      clockToleranceSec: config.tokens.clockToleranceSeconds,
    }),
    identities,
    guard: createRequestGuard(redis, prefix, undefined, (address) => vault.addressTag(address)),
    sequences,
    async close() {
      await deliveries.stop();
      await consentListener.close();
      await stopChanges();
      mailer.close();
      // Sequence records wait a little to share a round trip: written before Redis closes.
      await sequences.flush().catch(() => {});
      // Drain flushes publishes still in flight before the connection closes.
      await Promise.allSettled([nats.nc.drain(), pool.end(), redis.quit(), clickhouse.close()]);
    },
  };
}

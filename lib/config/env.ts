import { join } from "node:path";
import { z } from "zod";
import { findRepoRoot } from "../repo-root.ts";
import { readStackFile } from "../stack-file.ts";
import { DEFAULT_SUSPICIOUS_PATTERNS, parseSuspiciousPatterns } from "./suspicious-patterns.ts";

/** Repository root: the folder of this project's package.json (from source files and server bundles alike). */
export const repoRoot = findRepoRoot(import.meta.url);

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const host = z.string().min(1);

/**
 * The TLS settings of one client (PostgreSQL, Redis, NATS, ClickHouse), the same five for each:
 * SMSTATS_<X>_TLS turns TLS on (a rediss://, https:// or tls:// URL, or sslmode in a PostgreSQL URL, does
 * too); the files are PEM; the server name overrides the one checked in the certificate (default: the
 * URL's host); insecure skips checking the server's certificate (tests only, never production).
 */
const tlsFlag = () => z.enum(["true", "false"]).default("false");
const tlsText = () => z.string().default("");

function clientTlsVars<N extends string>(name: N) {
  return {
    /** Talk TLS to this server ("true"), even when the URL does not say so. */
    [`SMSTATS_${name}_TLS`]: tlsFlag(),
    /** CA certificate(s) (PEM file) that sign the server's certificate; empty = the system's CAs. */
    [`SMSTATS_${name}_TLS_CA_FILE`]: tlsText(),
    /** Client certificate (PEM file) for servers that ask for one (mutual TLS); empty = none. */
    [`SMSTATS_${name}_TLS_CERT_FILE`]: tlsText(),
    /** Private key (PEM file) of that client certificate. */
    [`SMSTATS_${name}_TLS_KEY_FILE`]: tlsText(),
    /** Server name sent (SNI) and checked in the server's certificate; empty = the URL's host. */
    [`SMSTATS_${name}_TLS_SERVERNAME`]: tlsText(),
    /** "true" accepts any server certificate (tests against self-signed servers only). */
    [`SMSTATS_${name}_TLS_INSECURE`]: tlsFlag(),
  } as Record<`SMSTATS_${N}_TLS` | `SMSTATS_${N}_TLS_INSECURE`, ReturnType<typeof tlsFlag>> &
    Record<
      `SMSTATS_${N}_TLS_${"CA_FILE" | "CERT_FILE" | "KEY_FILE" | "SERVERNAME"}`,
      ReturnType<typeof tlsText>
    >;
}

/**
 * Every environment variable the service reads, with its default and a doc line.
 * Only variables starting with SMSTATS_ are ours; an unknown SMSTATS_ variable is an error, so a typo
 * never silently falls back to a default.
 */
const envSchema = z
  .object({
    /** Folder holding the local stack's data, logs, secrets and stack.json. */
    SMSTATS_DATA_DIR: z.string().default(join(repoRoot, ".data")),
    /** pino log level. */
    SMSTATS_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Address the ingest HTTP server binds; loopback by default. */
    SMSTATS_INGEST_HOST: host.default("127.0.0.1"),
    /** Port of the ingest HTTP server (0 = any free port). */
    SMSTATS_INGEST_PORT: port.default(8080),
    /**
     * PEM certificate (chain) file ingest serves HTTPS with (TLS 1.3 minimum); empty (the default) serves
     * plain HTTP, as behind an ingress that terminates TLS. Set together with SMSTATS_INGEST_TLS_KEY_FILE.
     */
    SMSTATS_INGEST_TLS_CERT_FILE: z.string().default(""),
    /** PEM private key file of that certificate; empty unless SMSTATS_INGEST_TLS_CERT_FILE is set. */
    SMSTATS_INGEST_TLS_KEY_FILE: z.string().default(""),
    /**
     * Address of ingest's own /metrics listener (the API listener does not serve /metrics); loopback by
     * default, the pod's address (0.0.0.0) in Kubernetes so Prometheus can scrape it.
     */
    SMSTATS_INGEST_METRICS_HOST: host.default("127.0.0.1"),
    /** Port of ingest's /metrics listener (0 = any free port). */
    SMSTATS_INGEST_METRICS_PORT: port.default(9464),
    /** Largest accepted request body in bytes. */
    SMSTATS_INGEST_BODY_LIMIT: positiveInt.default(1024 * 1024),
    /** Most metrics accepted in one batch. */
    SMSTATS_INGEST_MAX_METRICS: positiveInt.default(1000),
    /** Seconds a client is told to wait (Retry-After) when the pipeline is unavailable. */
    SMSTATS_INGEST_RETRY_AFTER_S: positiveInt.default(5),
    /** Milliseconds ingest waits for JetStream to confirm a publish before answering 503. */
    SMSTATS_INGEST_PUBLISH_TIMEOUT_MS: positiveInt.default(5000),
    /** Largest batch after decompression, in bytes (gzip/zstd bodies; bounds decompression bombs). */
    SMSTATS_INGEST_MAX_DECOMPRESSED: positiveInt.default(8 * 1024 * 1024),
    /** Largest window (bytes) a zstd frame may declare; larger ones are refused before decoding (413). */
    SMSTATS_INGEST_ZSTD_MAX_WINDOW: positiveInt.default(8 * 1024 * 1024),
    /**
     * Largest window work (bytes: blocks × window of frames that do not declare their size) one zstd body
     * may cost the decoder; bounds CPU per body (413 past it).
     */
    SMSTATS_INGEST_ZSTD_MAX_WORK: positiveInt.default(256 * 1024 * 1024),
    /** Milliseconds a client has to send its request headers before the connection is cut (408). */
    SMSTATS_INGEST_HEADERS_TIMEOUT_MS: positiveInt.default(10_000),
    /** Milliseconds a client has to send a whole request, headers and body, before it is cut (408). */
    SMSTATS_INGEST_REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
    /** Milliseconds an idle keep-alive connection is kept open between requests. */
    SMSTATS_INGEST_KEEP_ALIVE_TIMEOUT_MS: positiveInt.default(5_000),
    /** Milliseconds a connection may stay silent (no byte either way) before it is closed. */
    SMSTATS_INGEST_IDLE_TIMEOUT_MS: positiveInt.default(15_000),
    /** How often (ms) the HTTP server checks headers and request timeouts (Node checks every 30 s by default). */
    SMSTATS_INGEST_TIMEOUT_CHECK_MS: positiveInt.default(1_000),
    /** Concurrent connections one client address may hold; more are closed at once and counted. */
    SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: positiveInt.default(64),
    /**
     * Handles accepting on the API's listening socket in each ingest process (duplicates of one socket):
     * Node accepts one connection per handle per event-loop iteration, so a busy process with one handle
     * accepts about 25 connections a second and new clients wait in the kernel's queue (lib/http/acceptors.ts).
     */
    SMSTATS_INGEST_ACCEPTORS: z.coerce.number().int().min(1).max(256).default(64),
    /**
     * Requests being served (body received, answer not yet sent) past which ingest answers 503 with
     * Retry-After at once instead of queueing them behind the others.
     */
    SMSTATS_INGEST_MAX_IN_FLIGHT: positiveInt.default(32),
    /** Event-loop delay (ms) past which ingest sheds requests with 503 and Retry-After. */
    SMSTATS_INGEST_MAX_EVENT_LOOP_DELAY_MS: positiveInt.default(200),
    /** Resident memory (bytes) past which ingest sheds requests with 503; its documented ceiling. */
    SMSTATS_INGEST_MAX_RSS_BYTES: positiveInt.default(1024 * 1024 * 1024),
    /** Deadline (ms) of each readiness check of ingest (NATS, PostgreSQL, Redis). */
    SMSTATS_INGEST_HEALTH_TIMEOUT_MS: positiveInt.default(500),
    /** Requests per minute per instance when its tier has no value of its own. */
    SMSTATS_INGEST_RATE_LIMIT_PER_MIN: positiveInt.default(100),
    /**
     * Badly signed instance requests one address may send per minute before its instance requests are
     * refused (429 SIGNATURES_LIMITED) until the minute ends; bad signatures never count against an instance.
     */
    SMSTATS_INGEST_BAD_SIGNATURES_PER_MIN: positiveInt.default(60),
    /** Per-tier requests per minute, e.g. "starter=100,party_host=300,venue=1000". */
    SMSTATS_INGEST_RATE_LIMIT_TIERS: z
      .string()
      .regex(/^([a-z_]+=\d+)(,[a-z_]+=\d+)*$/, "expected tier=number pairs separated by commas")
      .default("starter=100,party_host=300,venue=1000"),
    /**
     * Addresses or CIDRs of proxies whose X-Forwarded-For ingest trusts for the client address (the country
     * comes from it), comma-separated, e.g. "127.0.0.1,::1" behind a local load balancer or for `smstats
     * demo`; empty (the default) trusts none and uses the socket's peer address.
     */
    SMSTATS_INGEST_TRUST_PROXY: z
      .string()
      .regex(/^([0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)?$/, "expected addresses or CIDRs separated by commas")
      .default(""),
    /** How far in the future (seconds, by the server's clock) an event time may lie before it is clamped. */
    SMSTATS_INGEST_FUTURE_TOLERANCE_S: positiveInt.default(300),
    /** How old (days) an event may be and still be accepted; venues go offline for weeks. */
    SMSTATS_INGEST_MAX_EVENT_AGE_DAYS: positiveInt.default(365),
    /** Window (seconds) in which a request signature's timestamp is accepted, either side of now. */
    SMSTATS_INGEST_SIGNATURE_WINDOW_S: positiveInt.default(300),
    /**
     * Ingest processes serving the one port (node:cluster; the kernel spreads connections among them):
     * 1 runs one process as before, 0 one per core. Per-process limits (in-flight, connections per address,
     * memory) apply to each; rate limits live in Redis and stay shared.
     */
    SMSTATS_INGEST_PROCESSES: z.coerce.number().int().min(0).max(256).default(1),
    /**
     * V8 young-generation semi-space of each ingest process, MB (--max-semi-space-size); 0 keeps Node's
     * default. Larger means fewer scavenges for the short-lived objects of every request. Applied through
     * the worker processes, so a value > 0 runs the ingest as a primary with workers even for one process.
     */
    SMSTATS_INGEST_SEMI_SPACE_MB: z.coerce.number().int().min(0).max(1024).default(0),
    /** How long (ms) an instance's ban, consent and secret are cached in each ingest process. */
    SMSTATS_INGEST_IDENTITY_CACHE_MS: positiveInt.default(2000),
    /** Lifetime of instance tokens (JWT), seconds. */
    SMSTATS_TOKEN_TTL_S: positiveInt.default(3600),
    /** Lifetime of refresh tokens, seconds. */
    SMSTATS_REFRESH_TTL_S: positiveInt.default(30 * 86_400),
    /** Verified instance tokens kept per process, so a token's signature is checked once, not per request. */
    SMSTATS_TOKEN_CACHE_SIZE: positiveInt.default(10_000),
    /** Clock difference tolerated when checking a token's times, seconds. */
    SMSTATS_TOKEN_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).default(30),
    /** Address the processor's health/metrics server binds. */
    SMSTATS_PROCESSOR_HOST: host.default("127.0.0.1"),
    /** Port of the processor's health/metrics server (0 = any free port). */
    SMSTATS_PROCESSOR_PORT: port.default(8081),
    /** Concurrent pull loops in one processor process. */
    SMSTATS_PROCESSOR_WORKERS: positiveInt.default(2),
    /** Most messages one pull loop takes before it inserts. */
    SMSTATS_PROCESSOR_BATCH_MESSAGES: positiveInt.default(500),
    /** Longest a pull waits to fill a batch before inserting what it has, in ms (JetStream's minimum is 1000). */
    SMSTATS_PROCESSOR_BATCH_WAIT_MS: z.coerce.number().int().min(1000).default(1000),
    /** How long (ms) a processor caches an instance's tier, platform and version; a tier change shows after it. */
    SMSTATS_PROCESSOR_INSTANCE_CACHE_MS: positiveInt.default(60_000),
    /** Most instances a processor keeps in that cache. */
    SMSTATS_PROCESSOR_INSTANCE_CACHE_SIZE: positiveInt.default(100_000),
    /** A worker inserts its buffered rows once they reach this many (ClickHouse advises 10k–100k per insert). */
    SMSTATS_PROCESSOR_FLUSH_ROWS: positiveInt.default(50_000),
    /** …or once its oldest buffered row is this old, in ms (ClickHouse advises about one insert per second). */
    SMSTATS_PROCESSOR_FLUSH_AGE_MS: positiveInt.default(1000),
    /** …or once they take about this many bytes (estimated as encoded for the insert), checked as each message arrives. */
    SMSTATS_PROCESSOR_FLUSH_BYTES: positiveInt.default(32 * 1024 * 1024),
    /**
     * Behind a backlog, rows of the tables other than metrics_quality wait, their messages unacknowledged,
     * until they fill an insert of their own (FLUSH_ROWS), the worker catches up, or the oldest waited
     * this long, in ms; 0 inserts every table at every flush. Fewer, larger inserts of those tables: each
     * insert writes a part per view.
     */
    SMSTATS_PROCESSOR_HOLD_MAX_AGE_MS: z.coerce.number().int().min(0).max(20_000).default(5000),
    /** A message delivered this many times without being stored goes to the dead-letter stream (reason max_deliveries). */
    SMSTATS_PROCESSOR_MAX_DELIVERIES: positiveInt.default(50),
    /** A consumer with messages waiting and no progress for this long (ms) is reported stalled and its pull is re-created. */
    SMSTATS_PROCESSOR_STALL_MS: positiveInt.default(30_000),
    /** Insert format: "auto" asks the server once at start (ArrowStream where it reads it, else JSONEachRow). */
    SMSTATS_PROCESSOR_INSERT_FORMAT: z.enum(["auto", "ArrowStream", "JSONEachRow"]).default("auto"),
    /** Days of raw rows kept per tier, e.g. "starter=90,party_host=365,venue=730"; unlisted tiers keep the starter value. */
    SMSTATS_RETENTION_RAW_DAYS: z
      .string()
      .regex(/^([a-z_]+=\d+)(,[a-z_]+=\d+)*$/, "expected tier=days pairs separated by commas")
      .default("starter=90,party_host=365,venue=730"),
    /** Days each rollup grain is kept (all tiers): minute, hour and day tables. */
    SMSTATS_RETENTION_ROLLUP_DAYS: z
      .string()
      .regex(
        /^(minute|hour|day)=\d+(,(minute|hour|day)=\d+)*$/,
        "expected grain=days pairs, grains minute|hour|day",
      )
      .default("minute=35,hour=400,day=1830"),
    /**
     * Days the per-instance rollups (playback_instance_1d, library_1d, library_file_types_1d) are kept per
     * tier, e.g. "venue=1095"; a tier not listed keeps its raw days (SMSTATS_RETENTION_RAW_DAYS). A value
     * may only lengthen its tier's raw retention.
     */
    SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS: z
      .string()
      .regex(/^([a-z_]+=\d+(,[a-z_]+=\d+)*)?$/, "expected tier=days pairs separated by commas")
      .default(""),
    /** Days past its not-after a lease record is kept (PostgreSQL leases). */
    SMSTATS_RETENTION_LEASE_DAYS: positiveInt.default(90),
    /** Days an abuse flag is kept (PostgreSQL abuse_flags). */
    SMSTATS_RETENTION_ABUSE_FLAG_DAYS: positiveInt.default(180),
    /** Days an activation keeps its sealed client address; then only its country is left. */
    SMSTATS_RETENTION_ACTIVATION_ADDRESS_DAYS: positiveInt.default(30),
    /** Days past its expiry a refresh token's record is kept (reuse detection needs it until expiry). */
    SMSTATS_RETENTION_REFRESH_TOKEN_DAYS: positiveInt.default(7),
    /** Days the audit log keeps an entry (deleted only through purge_audit_log, migration 0008). */
    SMSTATS_RETENTION_AUDIT_DAYS: positiveInt.default(730),
    /** How often the processor runs retention, in ms (0 = never; `smstats retention run` still works). */
    SMSTATS_RETENTION_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(6 * 3_600_000),
    /** NATS server URL(s), comma-separated; defaults to the local stack. */
    SMSTATS_NATS_URL: z.string().optional(),
    /**
     * Replicas of the JetStream streams (telemetry, dead letters) and the processors' consumer: 3 on a
     * three-server NATS cluster. Defaults to the stack file's cluster (3), else 1.
     */
    SMSTATS_NATS_REPLICAS: z.coerce.number().int().min(1).max(5).optional(),
    /** JetStream stream holding telemetry batches. */
    SMSTATS_NATS_STREAM: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default("TELEMETRY"),
    /** Subject prefix of that stream; batches go to <prefix>.batch. */
    SMSTATS_NATS_SUBJECT_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
      .default("telemetry"),
    /** Durable consumer name shared by every processor worker. */
    SMSTATS_NATS_CONSUMER: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default("processor"),
    /** Stream size cap in bytes; when full, ingest answers 503 rather than dropping stored batches. */
    SMSTATS_NATS_STREAM_MAX_BYTES: positiveInt.default(2 * 1024 ** 3),
    /** Size cap of the dead-letter stream in bytes (the oldest dead letters go first). */
    SMSTATS_NATS_DLQ_MAX_BYTES: positiveInt.default(256 * 1024 * 1024),
    /** Duplicate window in ms: a batch re-sent within it is stored once. */
    SMSTATS_NATS_DUPLICATE_WINDOW_MS: positiveInt.default(15 * 60 * 1000),
    /** ClickHouse HTTP URL; defaults to the local stack. */
    SMSTATS_CLICKHOUSE_URL: z.string().url().optional(),
    /** ClickHouse user; defaults to the local stack's. */
    SMSTATS_CLICKHOUSE_USER: z.string().optional(),
    /** ClickHouse password; defaults to the local stack's. */
    SMSTATS_CLICKHOUSE_PASSWORD: z.string().optional(),
    /** ClickHouse database holding the telemetry tables. */
    SMSTATS_CLICKHOUSE_DATABASE: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default("smstats"),
    /**
     * ClickHouse cluster name (remote_servers) in cluster mode: migrations run ON CLUSTER with replicated
     * local tables behind Distributed ones, processors insert synchronously through them. Defaults to the
     * stack file's cluster (`stack:up -- --cluster`), else "" (one server).
     */
    SMSTATS_CLICKHOUSE_CLUSTER: z
      .string()
      .regex(/^([A-Za-z_][A-Za-z0-9_-]*)?$/)
      .optional(),
    /**
     * The cluster's servers by shard: shards separated by ",", a shard's replicas by "|", e.g.
     * "http://ch1:8123|http://ch2:8123,http://ch3:8123|http://ch4:8123". Defaults to the stack file's nodes.
     * Used to check replicas (row counts per shard, catch-up); the service itself talks to SMSTATS_CLICKHOUSE_URL.
     */
    SMSTATS_CLICKHOUSE_SHARDS: z.string().optional(),
    /**
     * insert_quorum of the processors' inserts in cluster mode: 0 (default) = a batch is acked once one
     * replica of each shard wrote it (the other replica fetches it from there), so inserts go on while a
     * replica is down; 2 = both replicas wrote it before the ack, so losing one disk loses nothing, but
     * inserts stop (and batches wait in JetStream) while any replica of a shard is down.
     */
    SMSTATS_CLICKHOUSE_INSERT_QUORUM: z.coerce.number().int().min(0).default(0),
    /** PostgreSQL URL; defaults to the local stack's. */
    SMSTATS_POSTGRES_URL: z.string().optional(),
    /** PostgreSQL database name, replacing the one in the URL (tests use their own). */
    SMSTATS_POSTGRES_DATABASE: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    /**
     * PostgreSQL URL of the service's write role (rows only, no DDL); defaults to the stack's URL with the
     * role smstats_write and the password `npm run migrate` generated into <data>/secrets/postgres_write.txt.
     */
    SMSTATS_POSTGRES_WRITE_URL: z.string().optional(),
    /** PostgreSQL URL of the read-only role; defaults like the write role's (smstats_read, postgres_read.txt). */
    SMSTATS_POSTGRES_READ_URL: z.string().optional(),
    /** Seconds a validation answer's inputs stay in Redis; revocations and bans clear them at once. */
    SMSTATS_LICENSE_CACHE_TTL_S: positiveInt.default(300),
    /** Seconds between the heartbeats an instance is asked for. */
    SMSTATS_LICENSE_HEARTBEAT_INTERVAL_S: positiveInt.default(3600),
    /** Seconds without a heartbeat after which a seat is dead and freed (default: three missed, plus 10 minutes). */
    SMSTATS_LICENSE_HEARTBEAT_DEAD_S: positiveInt.default(3 * 3600 + 600),
    /** Milliseconds between sweeps that free dead seats in each ingest process (seats are also freed on demand). */
    SMSTATS_LICENSE_REAP_INTERVAL_MS: positiveInt.default(60_000),
    /** Failed key lookups (unknown keys) one address may make per window before it is throttled (429). */
    SMSTATS_LICENSE_KEY_GUESSES: positiveInt.default(10),
    /** The key-guessing window, seconds. */
    SMSTATS_LICENSE_KEY_GUESS_WINDOW_S: positiveInt.default(600),
    /**
     * Failed key lookups against one key prefix (SM-LABEL-DATE, from any address) per key-guessing window
     * before unknown keys with that prefix are refused (429); a key that exists always passes.
     */
    SMSTATS_LICENSE_KEY_GUESSES_PER_PREFIX: positiveInt.default(100),
    /**
     * Error reports (items of the telemetry error metrics error_count_by_type and websocket_errors) one
     * instance may send per hour (the design's MaxErrorReportsPerHour); the excess is dropped and counted, the batch
     * still accepted.
     */
    SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR: positiveInt.default(1000),
    /**
     * Suspicious patterns: a JSON array of {name, field: "user_agent"|"version"|"hwid", pattern (a
     * JavaScript regular expression), flags?, action: "flag"|"refuse"} checked on registration and instance
     * requests; each match is counted by name in smstats_licensing_suspicious_total{rule,action}; "flag"
     * records it in abuse_flags, "refuse" answers 403 SUSPICIOUS_CLIENT.
     */
    SMSTATS_ABUSE_SUSPICIOUS_PATTERNS: z
      .string()
      .refine((text) => {
        try {
          parseSuspiciousPatterns(text);
          return true;
        } catch {
          return false;
        }
      }, "expected a JSON array of {name, field, pattern, flags?, action} with valid regular expressions")
      .default(DEFAULT_SUSPICIOUS_PATTERNS),
    /** Failed licensing requests (unknown key, no seat, another machine) one instance may make per hour before it is throttled. */
    SMSTATS_LICENSE_ERRORS_PER_HOUR: positiveInt.default(60),
    /** Registrations one address may make per hour. */
    SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: positiveInt.default(60),
    /** Live seats that may share one fingerprint before more are refused and the fingerprint is flagged as cloned. */
    SMSTATS_LICENSE_MAX_INSTANCES_PER_FINGERPRINT: positiveInt.default(2),
    /** Seconds an admin console session (cookie) lasts after sign-in with an admin token. */
    SMSTATS_WEB_ADMIN_SESSION_S: positiveInt.default(8 * 3600),
    /** Seconds a license portal session (cookie) lasts after sign-in with a license key. */
    SMSTATS_WEB_PORTAL_SESSION_S: positiveInt.default(3600),
    /** Failed portal sign-ins (unknown license key) one address may make per window before it is refused. */
    SMSTATS_WEB_PORTAL_SIGNIN_ATTEMPTS: positiveInt.default(10),
    /** The portal sign-in window, seconds. */
    SMSTATS_WEB_PORTAL_SIGNIN_WINDOW_S: positiveInt.default(900),
    /** Folder of the built console and portal (`web/` built by Vite); served under /admin/ and /portal/. */
    SMSTATS_WEB_DIST: z.string().default(join(repoRoot, "web", "dist")),
    /** Base URL of Grafana, for links from the console to the boards; empty hides the links. */
    SMSTATS_WEB_GRAFANA_URL: z.union([z.literal(""), z.string().url()]).default(""),
    /** SMTP server mail goes through, e.g. smtp://user:pass@mail.example.com:587; the default is a local sink. */
    SMSTATS_SMTP_URL: z.string().url().default("smtp://127.0.0.1:2525"),
    /** Sender of every mail (keys, expiry notices, revocations, the digest). */
    SMSTATS_MAIL_FROM: z.string().min(3).default("SongMartyn <licenses@songmartyn.local>"),
    /** Stripe webhook signing secret (whsec_…); unset refuses every Stripe event (503 PAYMENTS_NOT_CONFIGURED). */
    SMSTATS_STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
    /** Seconds a Stripe signature's timestamp may be from the server's clock. */
    SMSTATS_STRIPE_TOLERANCE_S: positiveInt.default(300),
    /** Lemon Squeezy webhook signing secret; unset refuses every Lemon Squeezy event. */
    SMSTATS_LEMONSQUEEZY_WEBHOOK_SECRET: z.string().min(1).optional(),
    /** Days a paid license stays valid after its period ended unpaid (failed payments get this long to recover). */
    SMSTATS_PAYMENTS_GRACE_DAYS: z.coerce.number().int().min(0).default(3),
    /** How often (ms) ingest mails owners whose license expires within 7 days (0 = never). */
    SMSTATS_MAIL_EXPIRY_NOTICE_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
    /** Cron expression (5 fields, server time) of the weekly admin digest; empty disables the schedule. */
    SMSTATS_DIGEST_CRON: z.string().default("0 8 * * 1"),
    /** Admins who get the digest, comma-separated; empty disables the schedule. */
    SMSTATS_DIGEST_TO: z.string().default(""),
    /** Outgoing webhooks: delays (ms) before each retry, comma-separated; the last repeats until the window ends. */
    SMSTATS_WEBHOOKS_BACKOFF_MS: z
      .string()
      .regex(/^\d+(,\d+)*$/, "expected milliseconds separated by commas")
      .default("5000,300000,1800000,7200000,18000000,36000000"),
    /** Outgoing webhooks: how long (seconds) after the event a failing delivery is retried before it is failed. */
    SMSTATS_WEBHOOKS_RETRY_WINDOW_S: positiveInt.default(86_400),
    /** Outgoing webhooks: how often (ms) the delivery worker looks for due deliveries. */
    SMSTATS_WEBHOOKS_POLL_MS: positiveInt.default(1000),
    /** Outgoing webhooks: timeout of one delivery request, ms. */
    SMSTATS_WEBHOOKS_TIMEOUT_MS: positiveInt.default(10_000),
    /** Outgoing webhooks may go to non-loopback addresses ("true" in production; development and tests keep "false"). */
    SMSTATS_WEBHOOKS_ALLOW_REMOTE: z.enum(["true", "false"]).default("false"),
    /** Erasure jobs: how often (ms) each ingest process looks for erasure jobs to start or resume. */
    SMSTATS_ERASURE_POLL_MS: positiveInt.default(5000),
    /** Erasure jobs: a running job's lease (ms); a job whose process died is resumed by another process after it. */
    SMSTATS_ERASURE_LEASE_MS: positiveInt.default(30_000),
    /** Erasure jobs: pause (ms) between a job's steps, to spread its load (tests use it to interrupt a job mid-way). */
    SMSTATS_ERASURE_STEP_PAUSE_MS: z.coerce.number().int().min(0).default(0),
    /** Erasure jobs: how long (ms) to follow one ClickHouse mutation before the step fails and is retried. */
    SMSTATS_ERASURE_MUTATION_TIMEOUT_MS: positiveInt.default(600_000),
    /** Bearer token Grafana's webhook contact point sends to POST /v1/webhooks/alerts; unset refuses the intake. */
    SMSTATS_ALERTS_INTAKE_TOKEN: z.string().min(16).optional(),
    ...clientTlsVars("POSTGRES"),
    ...clientTlsVars("REDIS"),
    ...clientTlsVars("NATS"),
    ...clientTlsVars("CLICKHOUSE"),
    /** Redis URL; defaults to the local stack's. */
    SMSTATS_REDIS_URL: z.string().optional(),
    /** Prefix of every Redis key this service writes (tests use their own). */
    SMSTATS_REDIS_KEY_PREFIX: z.string().default("smstats:"),
  })
  .strict();

/** The raw, validated environment. */
export type Env = z.infer<typeof envSchema>;

/** Raised when the environment is invalid; the message lists every problem. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Stable code, as every error of this project has. */
  readonly code = "CONFIG_INVALID";
}

/** Picks our variables out of an environment and validates them. */
export function parseEnv(source: NodeJS.ProcessEnv): Env {
  const ours = Object.fromEntries(Object.entries(source).filter(([k]) => k.startsWith("SMSTATS_")));
  const result = envSchema.safeParse(ours);
  if (!result.success) {
    const problems = result.error.issues.map((i) =>
      i.code === "unrecognized_keys"
        ? `unknown variable(s): ${i.keys.join(", ")}`
        : `${i.path.join(".")}: ${i.message}`,
    );
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return result.data;
}

/** Falls back to the local stack's file for a connection value the environment did not give. */
export function stackDefault<T>(
  dataDir: string,
  name: string,
  pick: (s: NonNullable<ReturnType<typeof readStackFile>>) => T,
): T {
  const stack = readStackFile(dataDir);
  if (!stack) {
    throw new ConfigError(
      `no ${name} configured: set it in the environment or start the local stack (npm run stack:up) so ${dataDir}/stack.json exists`,
    );
  }
  return pick(stack);
}

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Cron } from "croner";
import { readStackFile } from "../stack-file.ts";
import { ConfigError, type Env, parseEnv, stackDefault } from "./env.ts";
import { parseSuspiciousPatterns, type SuspiciousPattern } from "./suspicious-patterns.ts";

export { ConfigError, repoRoot } from "./env.ts";
export type { SuspiciousField, SuspiciousPattern } from "./suspicious-patterns.ts";

/** The service's configuration: parsed once at start, frozen, passed down. */
export interface Config {
  dataDir: string;
  logLevel: Env["SMSTATS_LOG_LEVEL"];
  ingest: {
    host: string;
    port: number;
    bodyLimit: number;
    maxMetrics: number;
    retryAfterSeconds: number;
    publishTimeoutMs: number;
    maxDecompressed: number;
    /** zstd limits: largest declared window and largest window work per body (bytes). */
    zstdMaxWindow: number;
    zstdMaxWork: number;
    /** Connection hygiene: timeouts (ms), how often they are checked, connections per client address. */
    timeouts: {
      headersMs: number;
      requestMs: number;
      keepAliveMs: number;
      idleMs: number;
      checkEveryMs: number;
    };
    maxConnectionsPerAddress: number;
    /** Handles accepting on the listening socket: connections accepted per event-loop iteration. */
    acceptors: number;
    /** Load shedding: past any of these, requests are answered 503 with Retry-After at once. */
    shedding: { maxInFlight: number; maxEventLoopDelayMs: number; maxRssBytes: number };
    /** Deadline of each readiness check (ms). */
    healthTimeoutMs: number;
    /** Badly signed requests per minute one address may send before it is refused (429). */
    badSignaturesPerMinute: number;
    /** Requests per minute per instance, by tier, with a fallback for unknown tiers. */
    rateLimit: { defaultPerMinute: number; perTier: Readonly<Record<string, number>> };
    futureToleranceMs: number;
    maxEventAgeMs: number;
    signatureWindowMs: number;
    identityCacheMs: number;
    /** Processes serving the port (0 = one per core) and each one's V8 semi-space in MB (0 = default). */
    processes: number;
    semiSpaceMb: number;
    /** Proxies (addresses or CIDRs) whose X-Forwarded-For gives the client address; empty trusts none. */
    trustProxy: readonly string[];
    /** HTTPS (TLS 1.3 minimum) with these PEM files; undefined serves plain HTTP (TLS ends at an ingress). */
    tls: { certFile: string; keyFile: string } | undefined;
    /** ingest's own /metrics listener; the API listener does not serve /metrics. */
    metrics: { host: string; port: number };
  };
  tokens: { ttlSeconds: number; refreshTtlSeconds: number; cacheSize: number; clockToleranceSeconds: number };
  processor: {
    host: string;
    port: number;
    workers: number;
    batchMessages: number;
    batchWaitMs: number;
    instanceCacheMs: number;
    instanceCacheSize: number;
    flushRows: number;
    flushAgeMs: number;
    /** Estimated buffer bytes that trigger an insert. */
    flushBytes: number;
    /** Longest the rows of the tables other than metrics_quality wait for a larger insert, ms (0 = never). */
    holdMaxAgeMs: number;
    /** Deliveries after which a message is dead-lettered. */
    maxDeliveries: number;
    /** No progress for this long with messages waiting is a stall, ms. */
    stallMs: number;
    insertFormat: "auto" | "ArrowStream" | "JSONEachRow";
  };
  retention: {
    /** Days of raw rows per tier; `default` applies to tiers not listed. */
    rawDays: { default: number; perTier: Readonly<Record<string, number>> };
    rollupDays: { minute: number; hour: number; day: number };
    /** Days of the per-instance rollups per tier; tiers not listed keep their raw days. */
    instanceRollupDays: Readonly<Record<string, number>>;
    /** PostgreSQL: leases, abuse flags, activation addresses, refresh tokens and the audit log, in days. */
    postgres: {
      leaseDays: number;
      abuseFlagDays: number;
      activationAddressDays: number;
      refreshTokenDays: number;
      auditDays: number;
    };
    intervalMs: number;
  };
  nats: {
    servers: string[];
    stream: string;
    subjectPrefix: string;
    consumer: string;
    streamMaxBytes: number;
    deadLetterMaxBytes: number;
    /** JetStream replicas of the streams and the consumer (3 on a NATS cluster). */
    replicas: number;
    duplicateWindowMs: number;
    /** TLS towards NATS (SMSTATS_NATS_TLS*). */
    tls: ClientTls;
  };
  clickhouse: {
    url: string;
    username: string;
    password: string;
    database: string;
    /** Cluster name in cluster mode, "" for one server. */
    cluster: string;
    /** The cluster's server URLs by shard (each shard's replicas); empty for one server. */
    shards: string[][];
    /** insert_quorum of the processors' inserts in cluster mode (0 = one replica per shard). */
    insertQuorum: number;
    /** TLS towards ClickHouse's HTTP interface (SMSTATS_CLICKHOUSE_TLS*). */
    tls: ClientTls;
  };
  /**
   * url: the migrating (owner) role; writeUrl / readUrl: the service's write and read-only roles, undefined
   * until `npm run migrate` generated their passwords (requirePostgresRole says so).
   */
  postgres: { url: string; writeUrl: string | undefined; readUrl: string | undefined; tls: ClientTls };
  licensing: {
    cacheTtlSeconds: number;
    heartbeatIntervalSeconds: number;
    heartbeatDeadSeconds: number;
    reapIntervalMs: number;
    keyGuesses: number;
    keyGuessWindowSeconds: number;
    errorsPerHour: number;
    registrationsPerHour: number;
    maxInstancesPerFingerprint: number;
    /** Failed key lookups per key prefix and window (from any address). */
    keyGuessesPerPrefix: number;
  };
  /** Abuse rules of the design (see SMSTATS_ABUSE_* in env.ts). */
  abuse: { maxErrorReportsPerHour: number; suspiciousPatterns: readonly SuspiciousPattern[] };
  /** tls: TLS towards Redis (SMSTATS_REDIS_TLS*). */
  redis: { url: string; keyPrefix: string; tls: ClientTls };
  /** The admin console and license portal (see SMSTATS_WEB_* in env.ts). */
  web: {
    adminSessionSeconds: number;
    portalSessionSeconds: number;
    portalSignInAttempts: number;
    portalSignInWindowSeconds: number;
    distDir: string;
    grafanaUrl: string;
  };
  mail: { smtpUrl: string; from: string; expiryNoticeIntervalMs: number };
  payments: {
    stripeSecret: string | undefined;
    stripeToleranceSeconds: number;
    lemonSqueezySecret: string | undefined;
    graceDays: number;
  };
  digest: { cron: string; to: readonly string[] };
  webhooks: {
    backoffMs: readonly number[];
    retryWindowMs: number;
    pollMs: number;
    timeoutMs: number;
    /** false: targets must be loopback addresses (development and tests). */
    allowRemote: boolean;
  };
  alerts: { intakeToken: string | undefined };
  /** Erasure jobs (privacy/erasure): poll interval, lease, pause between steps, mutation timeout. */
  erasure: { pollMs: number; leaseMs: number; stepPauseMs: number; mutationTimeoutMs: number };
}

/** How one client talks TLS to its server; `enabled` false = plain TCP. Files are PEM paths. */
export interface ClientTls {
  enabled: boolean;
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  /** SNI and the name checked in the server's certificate; undefined = the URL's host. */
  servername: string | undefined;
  /** Accept any server certificate (self-signed test servers only). */
  insecure: boolean;
}

// Placeholder until the URLs are known (filled in at the end of loadConfig).
const PLAIN: ClientTls = {
  enabled: false,
  caFile: undefined,
  certFile: undefined,
  keyFile: undefined,
  servername: undefined,
  insecure: false,
};

type TlsServer = "POSTGRES" | "REDIS" | "NATS" | "CLICKHOUSE";

// One client's TLS settings; its URL asking for TLS turns it on as the flag does. A client certificate
// without its key (or the reverse) is refused at start rather than failing at the first connection.
function clientTlsOf(env: Env, name: TlsServer, urlAsksTls: boolean): ClientTls {
  const text = (v: string) => (v === "" ? undefined : v);
  const certFile = text(env[`SMSTATS_${name}_TLS_CERT_FILE`]);
  const keyFile = text(env[`SMSTATS_${name}_TLS_KEY_FILE`]);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      `invalid configuration: SMSTATS_${name}_TLS_CERT_FILE and SMSTATS_${name}_TLS_KEY_FILE go together`,
    );
  }
  return {
    enabled: env[`SMSTATS_${name}_TLS`] === "true" || urlAsksTls,
    caFile: text(env[`SMSTATS_${name}_TLS_CA_FILE`]),
    certFile,
    keyFile,
    servername: text(env[`SMSTATS_${name}_TLS_SERVERNAME`]),
    insecure: env[`SMSTATS_${name}_TLS_INSECURE`] === "true",
  };
}

// A PostgreSQL URL asks for TLS with an sslmode other than disable/allow/prefer (libpq's meaning).
function pgUrlAsksTls(url: string): boolean {
  const mode = new URL(url).searchParams.get("sslmode");
  return mode !== null && !["disable", "allow", "prefer"].includes(mode);
}

function ingestTlsConfig(env: Env): Config["ingest"]["tls"] {
  const certFile = env.SMSTATS_INGEST_TLS_CERT_FILE;
  const keyFile = env.SMSTATS_INGEST_TLS_KEY_FILE;
  if ((certFile === "") !== (keyFile === "")) {
    throw new ConfigError(
      "invalid configuration: SMSTATS_INGEST_TLS_CERT_FILE and SMSTATS_INGEST_TLS_KEY_FILE go together",
    );
  }
  return certFile === "" ? undefined : { certFile, keyFile };
}

/** File (in <data>/secrets) holding the generated password of a service database role. */
export function rolePasswordFile(dataDir: string, role: string): string {
  return join(dataDir, "secrets", `${role.replace(/^smstats_/, "postgres_")}.txt`);
}

// The owner URL with another role and the password the migrate step generated for it, if it did.
function roleUrl(ownerUrl: string, dataDir: string, role: string): string | undefined {
  let password: string;
  try {
    password = readFileSync(rolePasswordFile(dataDir, role), "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const u = new URL(ownerUrl);
  u.username = role;
  u.password = password;
  return u.toString();
}

/** A service role's URL, or a ConfigError saying how to get one. */
export function requirePostgresRole(config: Readonly<Config>, role: "write" | "read"): string {
  const url = role === "write" ? config.postgres.writeUrl : config.postgres.readUrl;
  if (url) return url;
  throw new ConfigError(
    `no PostgreSQL ${role} role configured: set SMSTATS_POSTGRES_${role.toUpperCase()}_URL or run \`npm run migrate\`, which generates its password into ${rolePasswordFile(config.dataDir, `smstats_${role}`)}`,
  );
}

function withDatabase(url: string, database: string | undefined): string {
  if (!database) return url;
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function pairs(text: string): Record<string, number> {
  return Object.fromEntries(
    text.split(",").map((pair) => {
      const [key, n] = pair.split("=");
      return [key as string, Number(n)];
    }),
  );
}

function retentionConfig(env: Env): Config["retention"] {
  const raw = pairs(env.SMSTATS_RETENTION_RAW_DAYS);
  const rollup = pairs(env.SMSTATS_RETENTION_ROLLUP_DAYS);
  const rawDefault = raw.starter ?? 90;
  const rollupDays = { minute: rollup.minute ?? 35, hour: rollup.hour ?? 400, day: rollup.day ?? 1830 };
  const shortest = Math.min(...Object.values(raw), rawDefault);
  if (Math.max(...Object.values(rollupDays)) < shortest) {
    throw new ConfigError(
      `invalid configuration: SMSTATS_RETENTION_ROLLUP_DAYS keeps every rollup shorter than the raw rows (${shortest} days)`,
    );
  }
  const instanceRollupDays = env.SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS
    ? pairs(env.SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS)
    : {};
  for (const [tier, days] of Object.entries(instanceRollupDays)) {
    if (days < (raw[tier] ?? rawDefault)) {
      throw new ConfigError(
        `invalid configuration: SMSTATS_RETENTION_INSTANCE_ROLLUP_DAYS keeps ${tier}'s per-instance rollups shorter than its raw rows (${raw[tier] ?? rawDefault} days)`,
      );
    }
  }
  return {
    rawDays: { default: rawDefault, perTier: raw },
    rollupDays,
    instanceRollupDays,
    postgres: {
      leaseDays: env.SMSTATS_RETENTION_LEASE_DAYS,
      abuseFlagDays: env.SMSTATS_RETENTION_ABUSE_FLAG_DAYS,
      activationAddressDays: env.SMSTATS_RETENTION_ACTIVATION_ADDRESS_DAYS,
      refreshTokenDays: env.SMSTATS_RETENTION_REFRESH_TOKEN_DAYS,
      auditDays: env.SMSTATS_RETENTION_AUDIT_DAYS,
    },
    intervalMs: env.SMSTATS_RETENTION_INTERVAL_MS,
  };
}

function clusterConfig(
  env: Env,
  dataDir: string,
): Pick<Config["clickhouse"], "cluster" | "shards" | "insertQuorum"> {
  const stack = readStackFile(dataDir)?.cluster;
  const cluster = env.SMSTATS_CLICKHOUSE_CLUSTER ?? stack?.clickhouseCluster ?? "";
  let shards: string[][] = [];
  if (env.SMSTATS_CLICKHOUSE_SHARDS !== undefined) {
    shards = env.SMSTATS_CLICKHOUSE_SHARDS.split(",").map((shard) => shard.split("|").map((u) => u.trim()));
    for (const url of shards.flat()) {
      if (!URL.canParse(url))
        throw new ConfigError(`invalid configuration: SMSTATS_CLICKHOUSE_SHARDS: ${url} is not a URL`);
    }
  } else if (stack !== undefined && cluster === stack.clickhouseCluster) {
    const byShard = new Map<number, string[]>();
    for (const n of stack.clickhouseNodes) byShard.set(n.shard, [...(byShard.get(n.shard) ?? []), n.url]);
    shards = [...byShard.entries()].sort(([a], [b]) => a - b).map(([, urls]) => urls);
  }
  return { cluster, shards, insertQuorum: env.SMSTATS_CLICKHOUSE_INSERT_QUORUM };
}

/** Builds the configuration from an environment (process.env by default), failing on any bad value. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const env = parseEnv(source);
  const dataDir = env.SMSTATS_DATA_DIR;
  const fromStack = <T>(given: T | undefined, name: string, pick: Parameters<typeof stackDefault<T>>[2]): T =>
    given ?? stackDefault(dataDir, name, pick);
  const config: Config = {
    dataDir,
    logLevel: env.SMSTATS_LOG_LEVEL,
    ingest: {
      host: env.SMSTATS_INGEST_HOST,
      port: env.SMSTATS_INGEST_PORT,
      bodyLimit: env.SMSTATS_INGEST_BODY_LIMIT,
      maxMetrics: env.SMSTATS_INGEST_MAX_METRICS,
      retryAfterSeconds: env.SMSTATS_INGEST_RETRY_AFTER_S,
      publishTimeoutMs: env.SMSTATS_INGEST_PUBLISH_TIMEOUT_MS,
      maxDecompressed: env.SMSTATS_INGEST_MAX_DECOMPRESSED,
      zstdMaxWindow: env.SMSTATS_INGEST_ZSTD_MAX_WINDOW,
      zstdMaxWork: env.SMSTATS_INGEST_ZSTD_MAX_WORK,
      timeouts: {
        headersMs: env.SMSTATS_INGEST_HEADERS_TIMEOUT_MS,
        requestMs: env.SMSTATS_INGEST_REQUEST_TIMEOUT_MS,
        keepAliveMs: env.SMSTATS_INGEST_KEEP_ALIVE_TIMEOUT_MS,
        idleMs: env.SMSTATS_INGEST_IDLE_TIMEOUT_MS,
        checkEveryMs: env.SMSTATS_INGEST_TIMEOUT_CHECK_MS,
      },
      maxConnectionsPerAddress: env.SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS,
      acceptors: env.SMSTATS_INGEST_ACCEPTORS,
      shedding: {
        maxInFlight: env.SMSTATS_INGEST_MAX_IN_FLIGHT,
        maxEventLoopDelayMs: env.SMSTATS_INGEST_MAX_EVENT_LOOP_DELAY_MS,
        maxRssBytes: env.SMSTATS_INGEST_MAX_RSS_BYTES,
      },
      healthTimeoutMs: env.SMSTATS_INGEST_HEALTH_TIMEOUT_MS,
      badSignaturesPerMinute: env.SMSTATS_INGEST_BAD_SIGNATURES_PER_MIN,
      rateLimit: {
        defaultPerMinute: env.SMSTATS_INGEST_RATE_LIMIT_PER_MIN,
        perTier: Object.fromEntries(
          env.SMSTATS_INGEST_RATE_LIMIT_TIERS.split(",").map((pair) => {
            const [tier, n] = pair.split("=");
            return [tier as string, Number(n)];
          }),
        ),
      },
      futureToleranceMs: env.SMSTATS_INGEST_FUTURE_TOLERANCE_S * 1000,
      maxEventAgeMs: env.SMSTATS_INGEST_MAX_EVENT_AGE_DAYS * 86_400_000,
      signatureWindowMs: env.SMSTATS_INGEST_SIGNATURE_WINDOW_S * 1000,
      identityCacheMs: env.SMSTATS_INGEST_IDENTITY_CACHE_MS,
      processes: env.SMSTATS_INGEST_PROCESSES,
      semiSpaceMb: env.SMSTATS_INGEST_SEMI_SPACE_MB,
      trustProxy: env.SMSTATS_INGEST_TRUST_PROXY.split(",").filter(Boolean),
      tls: ingestTlsConfig(env),
      metrics: { host: env.SMSTATS_INGEST_METRICS_HOST, port: env.SMSTATS_INGEST_METRICS_PORT },
    },
    tokens: {
      ttlSeconds: env.SMSTATS_TOKEN_TTL_S,
      refreshTtlSeconds: env.SMSTATS_REFRESH_TTL_S,
      cacheSize: env.SMSTATS_TOKEN_CACHE_SIZE,
      clockToleranceSeconds: env.SMSTATS_TOKEN_CLOCK_TOLERANCE_S,
    },
    processor: {
      host: env.SMSTATS_PROCESSOR_HOST,
      port: env.SMSTATS_PROCESSOR_PORT,
      workers: env.SMSTATS_PROCESSOR_WORKERS,
      batchMessages: env.SMSTATS_PROCESSOR_BATCH_MESSAGES,
      batchWaitMs: env.SMSTATS_PROCESSOR_BATCH_WAIT_MS,
      instanceCacheMs: env.SMSTATS_PROCESSOR_INSTANCE_CACHE_MS,
      instanceCacheSize: env.SMSTATS_PROCESSOR_INSTANCE_CACHE_SIZE,
      flushRows: env.SMSTATS_PROCESSOR_FLUSH_ROWS,
      flushAgeMs: env.SMSTATS_PROCESSOR_FLUSH_AGE_MS,
      flushBytes: env.SMSTATS_PROCESSOR_FLUSH_BYTES,
      holdMaxAgeMs: env.SMSTATS_PROCESSOR_HOLD_MAX_AGE_MS,
      maxDeliveries: env.SMSTATS_PROCESSOR_MAX_DELIVERIES,
      stallMs: env.SMSTATS_PROCESSOR_STALL_MS,
      insertFormat: env.SMSTATS_PROCESSOR_INSERT_FORMAT,
    },
    retention: retentionConfig(env),
    nats: {
      servers: fromStack(env.SMSTATS_NATS_URL, "SMSTATS_NATS_URL", (s) => s.nats.url)
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      stream: env.SMSTATS_NATS_STREAM,
      subjectPrefix: env.SMSTATS_NATS_SUBJECT_PREFIX,
      consumer: env.SMSTATS_NATS_CONSUMER,
      streamMaxBytes: env.SMSTATS_NATS_STREAM_MAX_BYTES,
      deadLetterMaxBytes: env.SMSTATS_NATS_DLQ_MAX_BYTES,
      replicas: env.SMSTATS_NATS_REPLICAS ?? readStackFile(dataDir)?.cluster?.natsReplicas ?? 1,
      duplicateWindowMs: env.SMSTATS_NATS_DUPLICATE_WINDOW_MS,
      tls: PLAIN,
    },
    clickhouse: {
      url: fromStack(env.SMSTATS_CLICKHOUSE_URL, "SMSTATS_CLICKHOUSE_URL", (s) => s.clickhouse.url),
      username: fromStack(
        env.SMSTATS_CLICKHOUSE_USER,
        "SMSTATS_CLICKHOUSE_USER",
        (s) => s.clickhouse.username,
      ),
      password: fromStack(
        env.SMSTATS_CLICKHOUSE_PASSWORD,
        "SMSTATS_CLICKHOUSE_PASSWORD",
        (s) => s.clickhouse.password,
      ),
      database: env.SMSTATS_CLICKHOUSE_DATABASE,
      ...clusterConfig(env, dataDir),
      tls: PLAIN,
    },
    postgres: (() => {
      const url = withDatabase(
        fromStack(env.SMSTATS_POSTGRES_URL, "SMSTATS_POSTGRES_URL", (s) => s.postgres.url),
        env.SMSTATS_POSTGRES_DATABASE,
      );
      const role = (given: string | undefined, name: string) =>
        given === undefined
          ? roleUrl(url, dataDir, name)
          : withDatabase(given, env.SMSTATS_POSTGRES_DATABASE);
      return {
        url,
        writeUrl: role(env.SMSTATS_POSTGRES_WRITE_URL, "smstats_write"),
        readUrl: role(env.SMSTATS_POSTGRES_READ_URL, "smstats_read"),
        tls: PLAIN,
      };
    })(),
    licensing: {
      cacheTtlSeconds: env.SMSTATS_LICENSE_CACHE_TTL_S,
      heartbeatIntervalSeconds: env.SMSTATS_LICENSE_HEARTBEAT_INTERVAL_S,
      heartbeatDeadSeconds: env.SMSTATS_LICENSE_HEARTBEAT_DEAD_S,
      reapIntervalMs: env.SMSTATS_LICENSE_REAP_INTERVAL_MS,
      keyGuesses: env.SMSTATS_LICENSE_KEY_GUESSES,
      keyGuessWindowSeconds: env.SMSTATS_LICENSE_KEY_GUESS_WINDOW_S,
      errorsPerHour: env.SMSTATS_LICENSE_ERRORS_PER_HOUR,
      registrationsPerHour: env.SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR,
      maxInstancesPerFingerprint: env.SMSTATS_LICENSE_MAX_INSTANCES_PER_FINGERPRINT,
      keyGuessesPerPrefix: env.SMSTATS_LICENSE_KEY_GUESSES_PER_PREFIX,
    },
    abuse: {
      maxErrorReportsPerHour: env.SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR,
      suspiciousPatterns: parseSuspiciousPatterns(env.SMSTATS_ABUSE_SUSPICIOUS_PATTERNS),
    },
    redis: {
      url: fromStack(env.SMSTATS_REDIS_URL, "SMSTATS_REDIS_URL", (s) => s.redis.url),
      keyPrefix: env.SMSTATS_REDIS_KEY_PREFIX,
      tls: PLAIN,
    },
    web: {
      adminSessionSeconds: env.SMSTATS_WEB_ADMIN_SESSION_S,
      portalSessionSeconds: env.SMSTATS_WEB_PORTAL_SESSION_S,
      portalSignInAttempts: env.SMSTATS_WEB_PORTAL_SIGNIN_ATTEMPTS,
      portalSignInWindowSeconds: env.SMSTATS_WEB_PORTAL_SIGNIN_WINDOW_S,
      distDir: env.SMSTATS_WEB_DIST,
      grafanaUrl: env.SMSTATS_WEB_GRAFANA_URL,
    },
    mail: {
      smtpUrl: env.SMSTATS_SMTP_URL,
      from: env.SMSTATS_MAIL_FROM,
      expiryNoticeIntervalMs: env.SMSTATS_MAIL_EXPIRY_NOTICE_INTERVAL_MS,
    },
    payments: {
      stripeSecret: env.SMSTATS_STRIPE_WEBHOOK_SECRET,
      stripeToleranceSeconds: env.SMSTATS_STRIPE_TOLERANCE_S,
      lemonSqueezySecret: env.SMSTATS_LEMONSQUEEZY_WEBHOOK_SECRET,
      graceDays: env.SMSTATS_PAYMENTS_GRACE_DAYS,
    },
    digest: {
      cron: checkedCron(env.SMSTATS_DIGEST_CRON),
      to: env.SMSTATS_DIGEST_TO.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    },
    webhooks: {
      backoffMs: env.SMSTATS_WEBHOOKS_BACKOFF_MS.split(",").map(Number),
      retryWindowMs: env.SMSTATS_WEBHOOKS_RETRY_WINDOW_S * 1000,
      pollMs: env.SMSTATS_WEBHOOKS_POLL_MS,
      timeoutMs: env.SMSTATS_WEBHOOKS_TIMEOUT_MS,
      allowRemote: env.SMSTATS_WEBHOOKS_ALLOW_REMOTE === "true",
    },
    alerts: { intakeToken: env.SMSTATS_ALERTS_INTAKE_TOKEN },
    erasure: {
      pollMs: env.SMSTATS_ERASURE_POLL_MS,
      leaseMs: env.SMSTATS_ERASURE_LEASE_MS,
      stepPauseMs: env.SMSTATS_ERASURE_STEP_PAUSE_MS,
      mutationTimeoutMs: env.SMSTATS_ERASURE_MUTATION_TIMEOUT_MS,
    },
  };
  config.postgres.tls = clientTlsOf(env, "POSTGRES", pgUrlAsksTls(config.postgres.url));
  config.redis.tls = clientTlsOf(env, "REDIS", config.redis.url.startsWith("rediss:"));
  config.nats.tls = clientTlsOf(
    env,
    "NATS",
    config.nats.servers.some((u) => u.startsWith("tls:")),
  );
  config.clickhouse.tls = clientTlsOf(env, "CLICKHOUSE", config.clickhouse.url.startsWith("https:"));
  return deepFreeze(config);
}

// A cron expression croner accepts (or empty: no schedule); a typo stops the process at start.
function checkedCron(expression: string): string {
  if (expression.trim() === "") return "";
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (err) {
    throw new ConfigError(`invalid configuration: SMSTATS_DIGEST_CRON: ${(err as Error).message}`);
  }
  return expression;
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const v of Object.values(value)) if (v && typeof v === "object") deepFreeze(v);
  return Object.freeze(value);
}

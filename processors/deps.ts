import type { ClickHouseClient } from "@clickhouse/client";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type pg from "pg";
import {
  type ClickHouseExecutor,
  clusterInsertSettings,
  connectNats,
  createClickHouseClient,
  createPgPool,
  failoverExecutor,
  type NatsHandle,
  serverExecutor,
} from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { reconcileTelemetryStream } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { loadSecretBox, type SecretBox } from "../licensing/keys/index.ts";
import { loadAnonymizeSecret } from "./steps/anonymize/index.ts";
import {
  type CountryLookup,
  createCountryLookup,
  createInstanceLookup,
  type InstanceLookup,
} from "./steps/enrich/index.ts";

/** Everything a processor talks to, created once per process. */
export interface ProcessorDeps {
  nats: NatsHandle;
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** The client, for health checks. */
  clickhouseClient: ClickHouseClient;
  /** The sink's and retention's view of the same client. */
  clickhouse: ClickHouseExecutor;
  pg: pg.Pool;
  instances: InstanceLookup;
  countries: CountryLookup;
  anonymizeSecret: Buffer;
  /** Seals dead letters (the secret box of the data folder's keys, shared with ingest). */
  box: SecretBox;
  close(): Promise<void>;
}

/** Connects to NATS, ClickHouse and PostgreSQL, reconciles the streams, loads the lookups and the secret. */
export async function createProcessorDeps(config: Readonly<Config>, log: Logger): Promise<ProcessorDeps> {
  const nats = await connectNats(config.nats.servers, "smstats-processor", log, config.nats.tls);
  const jsm = await jetstreamManager(nats.nc);
  await reconcileTelemetryStream(jsm, config, log);
  // Cluster mode: synchronous inserts through the Distributed tables (lib/clients clusterInsertSettings).
  const chConfig = { ...config.clickhouse, settings: clusterInsertSettings(config.clickhouse) };
  const clickhouse = createClickHouseClient(chConfig);
  // Cluster mode: the entry node first, then every other node of the shard list, for when it is down.
  const others = config.clickhouse.shards.flat().filter((url) => url !== config.clickhouse.url);
  const pool = createPgPool(config.postgres.url, "smstats-processor", 5, config.postgres.tls);
  return {
    nats,
    jsm,
    js: jetstream(nats.nc),
    clickhouseClient: clickhouse,
    clickhouse:
      others.length > 0
        ? failoverExecutor(chConfig, [config.clickhouse.url, ...others])
        : serverExecutor(chConfig, clickhouse),
    pg: pool,
    instances: createInstanceLookup(pool, {
      ttlMs: config.processor.instanceCacheMs,
      maxEntries: config.processor.instanceCacheSize,
    }),
    countries: createCountryLookup(),
    anonymizeSecret: await loadAnonymizeSecret(config.dataDir),
    box: await loadSecretBox(config.dataDir),
    async close() {
      await nats.nc.drain();
      await Promise.allSettled([clickhouse.close(), pool.end()]);
    },
  };
}

import type { ClickHouseClient } from "@clickhouse/client";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { Registry } from "prom-client";
import {
  connectNats,
  createClickHouseClient,
  createPgPool,
  createRedis,
  type NatsHandle,
} from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { batchSubject, reconcileTelemetryStream } from "../lib/jetstream/index.ts";
import type { Logger } from "../lib/log/index.ts";
import { createRegistry } from "../lib/metrics/index.ts";
import { SchemaRegistry } from "../schemas/index.ts";
import { type BatchPublisher, createBatchPublisher } from "./publish/batch-publisher.ts";

/** Everything the ingest app talks to, created once per process and closed on shutdown. */
export interface IngestDeps {
  log: Logger;
  metrics: Registry;
  nats: NatsHandle;
  jsm: JetStreamManager;
  publisher: BatchPublisher;
  pg: pg.Pool;
  redis: Redis;
  /** Only pinged by /health: ingest never writes to ClickHouse. */
  clickhouse: ClickHouseClient;
  close(): Promise<void>;
}

/** Connects to the stack, reconciles the stream, and returns the ingest's dependencies. */
export async function createIngestDeps(config: Readonly<Config>, log: Logger): Promise<IngestDeps> {
  const nats = await connectNats(config.nats.servers, "smstats-ingest", log);
  const jsm = await jetstreamManager(nats.nc);
  await reconcileTelemetryStream(jsm, config, log);
  const registry = new SchemaRegistry();
  const publisher = createBatchPublisher({
    nats,
    js: jetstream(nats.nc),
    registry,
    subject: batchSubject(config.nats),
    timeoutMs: config.ingest.publishTimeoutMs,
  });
  const pool = createPgPool(config.postgres.url, "smstats-ingest");
  const redis = createRedis(config.redis.url, "smstats-ingest");
  const clickhouse = createClickHouseClient(config.clickhouse);
  return {
    log,
    metrics: createRegistry("ingest"),
    nats,
    jsm,
    publisher,
    pg: pool,
    redis,
    clickhouse,
    async close() {
      // Drain flushes publishes still in flight before the connection closes.
      await Promise.allSettled([nats.nc.drain(), pool.end(), redis.quit(), clickhouse.close()]);
    },
  };
}

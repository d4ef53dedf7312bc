export {
  type ClickHouseConfig,
  type ClickHouseExecutor,
  clusterInsertSettings,
  createClickHouseClient,
  failoverExecutor,
  type InsertFormat,
  insertStatement,
  isUnreachable,
  serverExecutor,
} from "./clickhouse.ts";
export { connectNats, type NatsHandle } from "./nats.ts";
export { type StorePorts, storeOutageOf, urlPort } from "./outage.ts";
export { createPgPool } from "./postgres.ts";
export { registerPostgresGauges } from "./postgres-gauges.ts";
export { connectRedis } from "./redis.ts";
export { createTickBatcher, createTimedBatcher, type TimedBatcher } from "./tick-batch.ts";
export {
  clickhouseTlsOptions,
  natsTlsOptions,
  pgTlsOptions,
  redisTlsOptions,
  tlsConnectionOptions,
} from "./tls.ts";

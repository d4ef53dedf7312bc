export {
  type ClickHouseConfig,
  type ClickHouseExecutor,
  createClickHouseClient,
  type InsertFormat,
  insertStatement,
  serverExecutor,
} from "./clickhouse.ts";
export { connectNats, type NatsHandle } from "./nats.ts";
export { type StorePorts, storeOutageOf, urlPort } from "./outage.ts";
export { createPgPool } from "./postgres.ts";
export { connectRedis } from "./redis.ts";

import type { Service } from "../service.ts";
import { clickhouse } from "./clickhouse.ts";
import { nats } from "./nats.ts";
import { postgres } from "./postgres.ts";
import { redis } from "./redis.ts";

/** The four servers of the local stack, in the order they are reported. */
export const services: readonly Service[] = [nats, clickhouse, postgres, redis];

export { CLICKHOUSE_USER } from "./clickhouse.ts";
export { POSTGRES_DATABASE, POSTGRES_ROLE, postgresUrl } from "./postgres.ts";

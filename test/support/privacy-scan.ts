import type { JetStreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { redisValueText } from "../../privacy/index.ts";

/** Where a needle was found: "<store>:<table or stream or key>[:<column>]". */
export type Hit = string;

/**
 * Every String column (LowCardinality, Nullable and Array of String included) of every table of the
 * database that stores rows, searched case-insensitively for each needle.
 */
export async function scanClickHouse(ch: ClickHouseExecutor, needles: string[]): Promise<Hit[]> {
  const db = sqlString(ch.database);
  const cols = await ch.rows<{ table: string; name: string; type: string }>(
    `SELECT table, name, type FROM system.columns
     WHERE database = ${db} AND type LIKE '%String%'
       AND table IN (SELECT name FROM system.tables WHERE database = ${db} AND engine NOT LIKE '%View')`,
  );
  const hits: Hit[] = [];
  for (const c of cols) {
    const col = c.name.split(".").map(sqlIdentifier).join(".");
    for (const n of needles) {
      const cond = c.type.startsWith("Array(")
        ? `arrayExists(x -> positionCaseInsensitive(toString(x), ${sqlString(n)}) > 0, ${col})`
        : `positionCaseInsensitive(toString(${col}), ${sqlString(n)}) > 0`;
      const r = await ch.rows<{ n: string }>(
        `SELECT count() AS n FROM ${sqlIdentifier(c.table)} WHERE ${cond}`,
      );
      if (Number(r[0]?.n) > 0) hits.push(`clickhouse:${c.table}:${c.name}:${n}`);
    }
  }
  return hits;
}

/** Every message of each stream (body and headers), searched for each needle. */
export async function scanStreams(
  jsm: JetStreamManager,
  streams: string[],
  needles: string[],
): Promise<Hit[]> {
  const hits: Hit[] = [];
  for (const stream of streams) {
    const info = await jsm.streams.info(stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m) continue;
      let text = Buffer.from(m.data).toString("latin1");
      for (const [k, values] of m.header ?? []) text += `\n${k}: ${values.join(", ")}`;
      for (const n of needles)
        if (text.toLowerCase().includes(n.toLowerCase())) hits.push(`jetstream:${stream}:${seq}:${n}`);
    }
  }
  return hits;
}

/**
 * Every row of every table of the schema, as text (all columns), searched case-insensitively for each
 * needle; `allowed(table, row)` names rows that may hold one (the erasure's audit record).
 */
export async function scanPostgres(
  pool: pg.Pool,
  needles: string[],
  allowed: (table: string, row: Record<string, unknown>) => boolean = () => false,
): Promise<Hit[]> {
  const { rows: tables } = await pool.query<{ t: string }>(
    `SELECT table_name::text AS t FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  const hits: Hit[] = [];
  for (const { t } of tables) {
    for (const n of needles) {
      const { rows } = await pool.query(
        `SELECT to_jsonb(x) AS row FROM "${t}" x WHERE position(lower($1) IN lower(x::text)) > 0`,
        [n],
      );
      for (const r of rows) if (!allowed(t, r.row)) hits.push(`postgres:${t}:${n}:${JSON.stringify(r.row)}`);
    }
  }
  return hits;
}

/** Every key of the Redis database (names and values), searched for each needle. */
export async function scanRedis(redis: Redis, needles: string[]): Promise<Hit[]> {
  const hits: Hit[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const text = `${key}\n${await redisValueText(redis, key)}`.toLowerCase();
      for (const n of needles) if (text.includes(n.toLowerCase())) hits.push(`redis:${key}:${n}`);
    }
  } while (cursor !== "0");
  return hits;
}

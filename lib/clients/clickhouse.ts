import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client";
import type { ClientTls } from "../config/index.ts";
import { sqlColumn, sqlIdentifier } from "../sql/index.ts";
import { clickhouseTlsOptions } from "./tls.ts";

/** Connection settings of a ClickHouse server. */
export interface ClickHouseConfig {
  /** HTTP interface URL. */
  url: string;
  username: string;
  password: string;
  /** Database holding the project's tables. */
  database: string;
  /** Cluster name (remote_servers) in cluster mode: the database is created ON CLUSTER; "" or absent for one server. */
  cluster?: string;
  /** Settings sent with every request of this client (the processors' insert settings in cluster mode). */
  settings?: Readonly<Record<string, string | number>>;
  /** TLS towards the server (config.clickhouse.tls); absent or disabled = plain HTTP. */
  tls?: ClientTls;
}

/**
 * The narrow surface that migrations and stored queries need, implemented for the ClickHouse server
 * (HTTP) and for chDB (in-process, tests), so the same SQL runs on both.
 */
export interface ClickHouseExecutor {
  /** "server" or "chdb", for test names and logs. */
  readonly engine: string;
  /** The database statements run in. */
  readonly database: string;
  /** Creates the database when missing. */
  ensureDatabase(): Promise<void>;
  /** Runs one statement that returns no rows. */
  exec(sql: string): Promise<void>;
  /** Runs one query and returns its rows as objects. */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /**
   * Inserts a body already encoded in `format` (JSONEachRow text or an Arrow IPC stream) into a table of
   * the database, optionally naming the columns the body carries. A list of parts is sent as one body,
   * part after part (no copy into one buffer).
   */
  insert(
    table: string,
    format: InsertFormat,
    body: Uint8Array | readonly Uint8Array[],
    columns?: readonly string[],
  ): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** The formats the processors insert in: Arrow where the server reads it, JSONEachRow everywhere. */
export type InsertFormat = "ArrowStream" | "JSONEachRow";

/** The INSERT statement for a body of `format`, naming `columns` when given. */
export function insertStatement(table: string, format: InsertFormat, columns?: readonly string[]): string {
  const cols = columns?.length ? ` (${columns.map(sqlColumn).join(", ")})` : "";
  return `INSERT INTO ${sqlIdentifier(table)}${cols} FORMAT ${format}`;
}

/**
 * Creates the @clickhouse/client for a database; its own logging is off (errors reach our handlers).
 * `requestTimeoutMs` (default 30 s) bounds one request; migrations that backfill a rollup need longer.
 */
export function createClickHouseClient(
  config: ClickHouseConfig,
  database = config.database,
  requestTimeoutMs = 30_000,
): ClickHouseClient {
  return createClient({
    ...clickhouseTlsOptions(config.url, config.tls, 10),
    username: config.username,
    password: config.password,
    database,
    application: "smstats",
    request_timeout: requestTimeoutMs,
    max_open_connections: 10,
    // ClickHouse closes an idle HTTP connection after keep_alive_timeout (3 s on 18.16). The client's
    // default of dropping its own after 2.5 s idle left half a second: a processor busy with a large
    // fetch handled an answer late, reused the connection after the server had closed it, and its insert
    // failed with EPIPE (the flush was then redelivered a second later). 1 s leaves 2 s of margin; a new
    // loopback connection costs far less than a redelivered flush.
    keep_alive: { idle_socket_ttl: 1_000, eagerly_destroy_stale_sockets: true },
    log: { level: ClickHouseLogLevel.OFF },
    ...(config.settings ? { clickhouse_settings: { ...config.settings } as Record<string, string> } : {}),
  });
}

/** An executor over the ClickHouse server's HTTP interface. */
export function serverExecutor(
  config: ClickHouseConfig,
  client: ClickHouseClient = createClickHouseClient(config),
): ClickHouseExecutor {
  return {
    engine: "server",
    database: config.database,
    async ensureDatabase() {
      // The main client names the database in every request, so creating it needs one that does not.
      const bootstrap = createClickHouseClient(config, "default");
      try {
        const onCluster = config.cluster ? ` ON CLUSTER ${sqlIdentifier(config.cluster)}` : "";
        await bootstrap.command({
          query: `CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(config.database)}${onCluster}`,
        });
      } finally {
        await bootstrap.close();
      }
    },
    async exec(sql) {
      await client.command({ query: sql });
    },
    async rows<T>(sql: string) {
      const rs = await client.query({ query: sql, format: "JSONEachRow" });
      return (await rs.json()) as T[];
    },
    async insert(table, format, body, columns) {
      // exec sends the statement as the query parameter and the body as the request body, as is, so
      // any input format the server knows works (the client's insert() only knows a fixed list).
      const res = await client.exec({
        query: insertStatement(table, format, columns),
        values: Readable.from(
          (Array.isArray(body) ? body : [body]).map((b: Uint8Array) =>
            Buffer.from(b.buffer, b.byteOffset, b.byteLength),
          ),
        ),
      });
      res.stream.resume();
      await finished(res.stream);
    },
    close: () => client.close(),
  };
}

/**
 * Settings of the processors' inserts in cluster mode. They insert into the Distributed tables with
 * insert_distributed_sync=1: the INSERT returns only after every shard's replica wrote its part, so "ack
 * only after ClickHouse has the rows" holds as on one server (asynchronous Distributed inserts would
 * return once the rows sit in the entry node's spool). insert_quorum: see SMSTATS_CLICKHOUSE_INSERT_QUORUM.
 * A redelivered batch that forms the same block is dropped by ReplicatedMergeTree's block de-duplication
 * (on by default), besides the processors' own already-inserted check.
 */
export function clusterInsertSettings(
  config: Pick<ClickHouseConfig, "cluster"> & { insertQuorum: number },
): Record<string, number> | undefined {
  if (!config.cluster) return undefined;
  return {
    insert_distributed_sync: 1,
    ...(config.insertQuorum > 0 ? { insert_quorum: config.insertQuorum } : {}),
  };
}

// Errors that say the node could not be reached (or went away mid-request), not that it refused the SQL.
const UNREACHABLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|socket hang up|other side closed|Timeout error/i;

/** True when an error means "this node is not answering", so another replica may serve the request. */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: unknown };
  return (
    UNREACHABLE.test(`${e?.code ?? ""} ${e?.message ?? ""}`) ||
    (e?.cause !== undefined && isUnreachable(e.cause))
  );
}

/**
 * An executor over several nodes of a cluster (the first is preferred): a request that cannot reach its
 * node goes to the next, and the one that answered is used from then on. Inserting again elsewhere after a
 * connection broke mid-insert is safe: the same block reaches the same shards, whose replicated tables
 * drop a block they already hold.
 */
export function failoverExecutor(config: ClickHouseConfig, urls: readonly string[]): ClickHouseExecutor {
  const nodes = urls.map((url) => serverExecutor({ ...config, url }));
  let current = 0;
  const attempt = async <T>(fn: (e: ClickHouseExecutor) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (let i = 0; i < nodes.length; i++) {
      const index = (current + i) % nodes.length;
      try {
        const result = await fn(nodes[index] as ClickHouseExecutor);
        current = index;
        return result;
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        last = err;
      }
    }
    throw last;
  };
  return {
    engine: "server",
    database: config.database,
    ensureDatabase: () => attempt((e) => e.ensureDatabase()),
    exec: (sql) => attempt((e) => e.exec(sql)),
    rows: <T>(sql: string) => attempt((e) => e.rows<T>(sql)),
    insert: (table, format, body, columns) => attempt((e) => e.insert(table, format, body, columns)),
    close: async () => {
      await Promise.all(nodes.map((e) => e.close()));
    },
  };
}

import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { sqlIdentifier } from "../sql/index.ts";

/** Connection settings of a ClickHouse server. */
export interface ClickHouseConfig {
  /** HTTP interface URL. */
  url: string;
  username: string;
  password: string;
  /** Database holding the project's tables. */
  database: string;
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
  /** Releases connections. */
  close(): Promise<void>;
}

/** Creates the @clickhouse/client for a database; its own logging is off (errors reach our handlers). */
export function createClickHouseClient(
  config: ClickHouseConfig,
  database = config.database,
): ClickHouseClient {
  return createClient({
    url: config.url,
    username: config.username,
    password: config.password,
    database,
    application: "smstats",
    request_timeout: 30_000,
    max_open_connections: 10,
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/** An executor over the ClickHouse server's HTTP interface. */
export function serverExecutor(config: ClickHouseConfig): ClickHouseExecutor {
  const client = createClickHouseClient(config);
  return {
    engine: "server",
    database: config.database,
    async ensureDatabase() {
      // The main client names the database in every request, so creating it needs one that does not.
      const bootstrap = createClickHouseClient(config, "default");
      try {
        await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(config.database)}` });
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
    close: () => client.close(),
  };
}

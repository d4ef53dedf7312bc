import pg from "pg";
import type { ClientTls } from "../config/index.ts";
import { pgTlsOptions } from "./tls.ts";

/**
 * A PostgreSQL pool for one database URL, with bounded waits so a down database fails fast; `tls`
 * (config.postgres.tls) makes it talk TLS.
 */
export function createPgPool(url: string, applicationName: string, max = 10, tls?: ClientTls): pg.Pool {
  const pool = new pg.Pool({
    ...pgTlsOptions(url, tls),
    application_name: applicationName,
    max,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits 'error' on the pool; without a listener Node would crash.
  pool.on("error", () => {});
  // A checked-out client losing its connection between two queries (idle in a transaction when the server
  // is stopped: 57P01) emits 'error' on itself, and the pool listens only to clients it holds idle: one
  // listener for each client's life keeps that from crashing the process. The client is then unusable;
  // its holder's next query fails, and the pool drops it on release.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return pool;
}

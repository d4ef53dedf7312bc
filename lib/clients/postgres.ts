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
  return pool;
}

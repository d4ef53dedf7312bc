import pg from "pg";

/** A PostgreSQL pool for one database URL, with bounded waits so a down database fails fast. */
export function createPgPool(url: string, applicationName: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: applicationName,
    max,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection emits 'error' on the pool; without a listener Node would crash.
  pool.on("error", () => {});
  return pool;
}

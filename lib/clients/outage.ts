/** Where the client libraries' connection errors point: the ports of the stores they talk to. */
export interface StorePorts {
  redis: number;
  postgres: number;
}

// PostgreSQL SQLSTATE classes that mean "the server is not there to answer" rather than a bad query:
// 08 connection exception, 57P01–57P03 shutdown / cannot connect now, 53300 too many connections.
const PG_DOWN = /^(08|57P0[123]|53300)/;
const PG_DOWN_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting|shutting) up/i;
const REDIS_DOWN_MESSAGE =
  /enableOfflineQueue|Connection is closed|Stream isn't writeable|Reached the max retries/i;

/**
 * Which store's outage an error comes from ("redis", "postgres"), or undefined for any other error
 * (a bad query, a bug). Follows the cause chain, since domain errors wrap the client's.
 */
export function storeOutageOf(err: unknown, ports: StorePorts): "redis" | "postgres" | undefined {
  let e = err as (Error & { code?: string; port?: number; syscall?: string; cause?: unknown }) | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (e.name === "MaxRetriesPerRequestError" || REDIS_DOWN_MESSAGE.test(e.message ?? "")) return "redis";
    if (typeof e.code === "string" && PG_DOWN.test(e.code)) return "postgres";
    if (PG_DOWN_MESSAGE.test(e.message ?? "")) return "postgres";
    if (e.syscall === "connect" || e.code === "ECONNREFUSED" || e.code === "ECONNRESET") {
      if (e.port === ports.redis) return "redis";
      if (e.port === ports.postgres) return "postgres";
    }
    // An AggregateError (e.g. a connect that tried ::1 and 127.0.0.1) holds the real ones.
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner)) {
      for (const x of inner) {
        const found = storeOutageOf(x, ports);
        if (found) return found;
      }
    }
  }
  return undefined;
}

/** Port of a redis:// or postgres:// URL, with the scheme's default. */
export function urlPort(url: string, fallback: number): number {
  const port = new URL(url).port;
  return port ? Number(port) : fallback;
}

import type pg from "pg";
import { Gauge, type Registry } from "prom-client";

/**
 * PostgreSQL's connections in use and its max_connections, read at scrape time (the scaling alert fires
 * above 80 %). A failed read keeps the last values rather than failing the scrape.
 */
export function registerPostgresGauges(registry: Registry, pool: pg.Pool): void {
  let read: Promise<{ n: number; max: number } | undefined> | undefined;
  // One query per scrape for both gauges.
  const sample = () => {
    read ??= pool
      .query<{ n: number; max: number }>(
        "SELECT count(*)::int AS n, current_setting('max_connections')::int AS max FROM pg_stat_activity",
      )
      .then((r) => r.rows[0])
      .catch(() => undefined)
      .finally(() => {
        setTimeout(() => {
          read = undefined;
        }, 100).unref();
      });
    return read;
  };
  new Gauge({
    name: "smstats_postgres_connections",
    help: "Connections open on the PostgreSQL server (pg_stat_activity), read at scrape time.",
    registers: [registry],
    async collect() {
      const s = await sample();
      if (s) this.set(s.n);
    },
  });
  new Gauge({
    name: "smstats_postgres_max_connections",
    help: "PostgreSQL's max_connections setting, read at scrape time.",
    registers: [registry],
    async collect() {
      const s = await sample();
      if (s) this.set(s.max);
    },
  });
}

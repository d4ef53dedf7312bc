import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import { runPostgresRetention, runRetention } from "./index.ts";

/** Runs retention inside the processor: shortly after start, then every `retention.intervalMs`. */
export function scheduleRetention(opts: {
  ch: ClickHouseExecutor;
  /** PostgreSQL's retention (leases, tokens, flags, audit, addresses) runs with ClickHouse's when given. */
  pg?: pg.Pool;
  retention: Config["retention"];
  log: Logger;
  metrics: Registry;
  /** Delay of the first run after start, ms (lets the pipeline settle first). */
  firstRunMs?: number;
}): { stop(): Promise<void> } {
  const runs = new Counter({
    name: "smstats_retention_runs_total",
    help: "Retention runs of this processor, by result.",
    labelNames: ["result"],
    registers: [opts.metrics],
  });
  const partitions = new Counter({
    name: "smstats_retention_partitions_dropped_total",
    help: "Partitions dropped by retention, by table.",
    labelNames: ["table"],
    registers: [opts.metrics],
  });
  const rows = new Counter({
    name: "smstats_retention_rows_dropped_total",
    help: "Rows retention removed, by table: ClickHouse rows in dropped partitions, PostgreSQL rows deleted (or addresses purged).",
    labelNames: ["table"],
    registers: [opts.metrics],
  });
  runs.inc({ result: "ok" }, 0);
  runs.inc({ result: "error" }, 0);
  if (opts.retention.intervalMs === 0) return { stop: async () => {} };
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    running = (async () => {
      try {
        const report = await runRetention(opts.ch, opts.retention);
        const postgres = opts.pg ? await runPostgresRetention(opts.pg, opts.retention.postgres) : [];
        for (const p of postgres) rows.inc({ table: p.table }, p.rows);
        for (const d of report.dropped) {
          partitions.inc({ table: d.table });
          rows.inc({ table: d.table }, d.rows);
        }
        runs.inc({ result: "ok" });
        opts.log.info(
          {
            dropped: report.dropped.length,
            kept: report.kept,
            unknown: report.unknown.length,
            postgres: Object.fromEntries(postgres.map((p) => [p.table, p.rows])),
          },
          "retention run",
        );
      } catch (err) {
        runs.inc({ result: "error" });
        opts.log.warn({ err }, "retention run failed; next run at the next interval");
      } finally {
        running = undefined;
      }
    })();
  };
  const first = setTimeout(run, opts.firstRunMs ?? 60_000);
  const every = setInterval(run, opts.retention.intervalMs);
  first.unref();
  every.unref();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(every);
      await running;
    },
  };
}

import { Counter, type Registry } from "prom-client";
import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import { runRetention } from "./index.ts";

/** Runs retention inside the processor: shortly after start, then every `retention.intervalMs`. */
export function scheduleRetention(opts: {
  ch: ClickHouseExecutor;
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
    help: "Rows in the partitions retention dropped, by table.",
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
        for (const d of report.dropped) {
          partitions.inc({ table: d.table });
          rows.inc({ table: d.table }, d.rows);
        }
        runs.inc({ result: "ok" });
        opts.log.info(
          { dropped: report.dropped.length, kept: report.kept, unknown: report.unknown.length },
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

import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import { sqlColumn, sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { RAW_TABLES } from "../../processors/steps/route/index.ts";

/** How a seed fleet becomes a large one on the server. */
export interface ReplicateOptions {
  /** The database holding the simulated seed fleet (its raw tables). */
  seedDatabase: string;
  /** Copies of every seed instance to make (copy 0 included), so the fleet has seeds × copies instances. */
  copies: number;
  /** Copies per INSERT … SELECT (bounds the server's memory per statement). */
  copiesPerInsert?: number;
  /** Called after each statement with the table, the copies done and the raw rows written so far. */
  progress?: (table: string, copiesDone: number, rows: number) => void;
}

/**
 * The raw rows of `copies` copies of every seed instance, written by the server itself with
 * INSERT … SELECT (arrayJoin over a range of copy numbers) into the executor's raw tables, so every
 * materialized view and rollup is filled exactly as by the processors' inserts. Copy c of an instance
 * gets its own instance_id (the last 8 hex digits replaced by c) and its times shifted back by c mod 60
 * minutes, so copies do not all land in the same minute. Everything else (tier, version, country,
 * metrics, events) is the simulated seed's. Returns the raw rows written per table.
 */
export async function replicateFleet(
  ch: ClickHouseExecutor,
  opts: ReplicateOptions,
): Promise<Record<string, number>> {
  const per = Math.max(1, opts.copiesPerInsert ?? 4);
  const counts: Record<string, number> = {};
  let total = 0;
  for (const table of RAW_TABLES) {
    const columns = (
      await ch.rows<{ name: string }>(
        `SELECT name FROM system.columns WHERE database = ${sqlString(opts.seedDatabase)} AND table = ${sqlString(table)}`,
      )
    ).map((c) => c.name);
    const select = columns.map((c) => {
      if (c === "instance_id")
        return "concat(substring(instance_id, 1, 28), lower(hex(toUInt32(copy)))) AS instance_id";
      if (c === "time") return "time - toUInt32((copy % 60) * 60) AS time";
      return sqlColumn(c);
    });
    const [{ n } = { n: "0" }] = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM ${sqlIdentifier(opts.seedDatabase)}.${sqlIdentifier(table)}`,
    );
    counts[table] = 0;
    for (let from = 0; from < opts.copies; from += per) {
      const to = Math.min(opts.copies, from + per);
      await ch.exec(
        `INSERT INTO ${sqlIdentifier(table)} (${columns.map(sqlColumn).join(", ")})
SELECT ${select.join(", ")}
FROM (SELECT *, arrayJoin(arrayMap(x -> x + ${from}, range(${to - from}))) AS copy FROM ${sqlIdentifier(opts.seedDatabase)}.${sqlIdentifier(table)})`,
      );
      counts[table] += Number(n) * (to - from);
      total += Number(n) * (to - from);
      opts.progress?.(table, to, total);
    }
  }
  return counts;
}

/** Waits until the database has no merge running (background merges would be timed with the queries). */
export async function waitForMerges(ch: ClickHouseExecutor, maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const [{ n } = { n: "0" }] = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM system.merges WHERE database = ${sqlString(ch.database)}`,
    );
    if (Number(n) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return performance.now() - t0;
}

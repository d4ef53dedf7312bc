import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { batchToRows } from "../../processors/steps/index.ts";
import { emptyRows, RAW_TABLES, type TableRows } from "../../processors/steps/route/index.ts";
import type { MetricsBatch } from "../../schemas/index.ts";

/**
 * Puts fleet-simulator batches into ClickHouse engines (server and chDB alike) without HTTP or NATS: each
 * batch goes through the processors' own pure steps (processors/steps: enrich with the instance's record
 * and country → anonymize → downsample → route) and the rows are inserted as JSONEachRow, so the raw tables and
 * every materialized view see exactly what the pipeline would write.
 */

/** What the loader needs of a simulated instance (loadtest/fleet's SimInstance has it). */
export interface LoaderInstance {
  instance_id: string;
  tier: string;
  platform: string;
  version: string;
  country: string;
}

/** One batch and the instance that sent it. */
export interface SentBatch {
  instance: LoaderInstance;
  batch: MetricsBatch;
}

/** Options of loadBatches. */
export interface LoadOptions {
  /** The anonymize step's keyed-hash secret (a test secret). */
  secret: Buffer;
  /** Rows buffered per table before an insert; default 50 000. */
  chunkRows?: number;
  /** Called after every insert round with the rows inserted so far. */
  progress?: (rows: number) => void;
}

/** Rows per raw table for one batch, as the processor topology would insert them. */
export function batchRows(sent: SentBatch, secret: Buffer, into: TableRows = emptyRows()): TableRows {
  const { instance, batch } = sent;
  const record = { tier: instance.tier, version: instance.version, platform: instance.platform };
  // The simulator's batches arrive when they are sent; received_at is the batch's sending time.
  return batchToRows(
    batch,
    { instance: record, country: instance.country, secret },
    batch.sent_at_ms || batch.timestamp_ms,
    into,
  );
}

/** Inserts rows into one table of every engine as JSONEachRow. */
export async function insertRows(
  engines: readonly ClickHouseExecutor[],
  table: string,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  if (rows.length === 0) return;
  const body = rows.map((r) => JSON.stringify(r)).join("\n");
  const sql = `INSERT INTO ${sqlIdentifier(table)} FORMAT JSONEachRow\n${body}`;
  await Promise.all(engines.map((e) => e.exec(sql)));
}

/** Loads batches into every engine; returns the rows inserted per table. */
export async function loadBatches(
  engines: readonly ClickHouseExecutor[],
  batches: Iterable<SentBatch>,
  opts: LoadOptions,
): Promise<Record<string, number>> {
  const chunk = opts.chunkRows ?? 50_000;
  const counts: Record<string, number> = Object.fromEntries(RAW_TABLES.map((t) => [t, 0]));
  let pending = emptyRows();
  let buffered = 0;
  let total = 0;
  const flush = async () => {
    for (const table of RAW_TABLES) {
      await insertRows(engines, table, pending[table]);
      counts[table] = (counts[table] ?? 0) + pending[table].length;
    }
    total += buffered;
    pending = emptyRows();
    buffered = 0;
    opts.progress?.(total);
  };
  for (const sent of batches) {
    const before = RAW_TABLES.reduce((n, t) => n + pending[t].length, 0);
    batchRows(sent, opts.secret, pending);
    buffered += RAW_TABLES.reduce((n, t) => n + pending[t].length, 0) - before;
    if (buffered >= chunk) await flush();
  }
  if (buffered > 0) await flush();
  return counts;
}

import type { ClickHouseExecutor } from "../../../lib/clients/index.ts";
import { sqlString } from "../../../lib/sql/index.ts";
import { insertRepeatingUnknownStatus } from "./unknown-status.ts";

/** The table of stored batch keys (migration 0005). */
export const INSERTED_BATCHES_TABLE = "inserted_batches";

/** Days a batch key is kept: the de-duplication window is at least this long (weekly partitions). */
export const INSERTED_BATCHES_DAYS = 14;

/** Identifies a batch: ingest's message id is built from the same pair. */
export interface BatchKey {
  instance_id: string;
  batch_id: string;
}

/** The map key of a batch. */
export const batchKey = (k: BatchKey) => `${k.instance_id}\u0000${k.batch_id}`;

const list = (values: Iterable<string>) => [...new Set(values)].map(sqlString).join(", ");

/**
 * Which of these batches are stored already (their keys of `inserted_batches`)? One query per flush,
 * narrowed by the primary key (instance_id, batch_id); returns keys as `batchKey` makes them.
 */
export async function storedBatches(ch: ClickHouseExecutor, keys: readonly BatchKey[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const found = await ch.rows<BatchKey>(
    `SELECT instance_id, batch_id FROM ${INSERTED_BATCHES_TABLE}
     WHERE instance_id IN (${list(keys.map((k) => k.instance_id))})
       AND batch_id IN (${list(keys.map((k) => k.batch_id))})`,
  );
  return new Set(found.map(batchKey));
}

/** Records batches as stored; called only once every raw table holds their rows. */
export async function recordBatches(ch: ClickHouseExecutor, keys: readonly BatchKey[], now = Date.now()) {
  if (keys.length === 0) return;
  const at = new Date(Math.floor(now / 1000) * 1000).toISOString().slice(0, 19).replace("T", " ");
  let text = "";
  for (const k of keys) text += `${JSON.stringify({ inserted_at: at, ...k })}\n`;
  const body = Buffer.from(text);
  // A record left uncommitted by a lost ZooKeeper session would be detached later: repeat it (319).
  await insertRepeatingUnknownStatus(() => ch.insert(INSERTED_BATCHES_TABLE, "JSONEachRow", body));
}

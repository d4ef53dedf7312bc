import type { ClickHouseExecutor } from "../../../lib/clients/index.ts";
import { sqlIdentifier, sqlString } from "../../../lib/sql/index.ts";

/** The columns every raw table starts with that identify where a row came from. */
export interface RowOrigin {
  time: string;
  tier: string;
  instance_id: string;
  batch_id: string;
}

const list = (values: Iterable<string>) => [...new Set(values)].map(sqlString).join(", ");

/**
 * Which of the batches these rows came in does `table` already hold? Asked only for messages JetStream
 * delivers again (after a crash, a timeout or a failed insert), so a batch inserted before its ack was
 * lost is not inserted twice. The filter on tier and time prunes to the batches' partitions; the
 * instance and batch ids narrow within them. One batch's rows of one table are inserted in one block,
 * so a batch is either there or not.
 */
export async function alreadyInserted(
  ch: ClickHouseExecutor,
  table: string,
  rows: readonly RowOrigin[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  let min = rows[0]?.time as string;
  let max = min;
  for (const r of rows) {
    if (r.time < min) min = r.time;
    if (r.time > max) max = r.time;
  }
  const found = await ch.rows<{ batch_id: string }>(
    `SELECT DISTINCT batch_id FROM ${sqlIdentifier(table)}
     WHERE tier IN (${list(rows.map((r) => r.tier))})
       AND time >= ${sqlString(min)} AND time <= ${sqlString(max)}
       AND instance_id IN (${list(rows.map((r) => r.instance_id))})
       AND batch_id IN (${list(rows.map((r) => r.batch_id))})`,
  );
  return new Set(found.map((r) => r.batch_id));
}

import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import { sqlIdentifier, sqlNumber, sqlString } from "../../lib/sql/index.ts";
import { clickHouseInstanceTables } from "../instance-tables.ts";
import type { ErasureSubject } from "./subject.ts";

/** Settings of the ClickHouse step. */
export interface ClickHouseErasureOptions {
  /** How long to follow one mutation before giving up (the job is retried). */
  mutationTimeoutMs: number;
  /** Poll interval of system.mutations. */
  pollMs?: number;
}

/**
 * Deletes the instance's rows from every table with an instance_id column (raw tables, per-instance
 * rollups, the stored-batches record; see clickHouseInstanceTables) with ALTER TABLE … DELETE mutations,
 * each followed in system.mutations until done, then checks that no row is left, and starts over for
 * rows a processor inserted meanwhile (a batch in flight when the job deleted the stream's copy).
 *
 * The mutation names a hash of the instance id, not the id: ClickHouse keeps mutation commands in
 * system.mutations and in files beside the table's parts.
 */
export async function eraseClickHouse(
  ch: ClickHouseExecutor,
  s: ErasureSubject,
  opts: ClickHouseErasureOptions,
): Promise<Record<string, number>> {
  const id = sqlString(s.instanceId);
  const hash = (await ch.rows<{ h: string }>(`SELECT toString(sipHash64(${id})) AS h`))[0]?.h as string;
  if (!/^\d+$/.test(hash)) throw new Error("ClickHouse did not answer the instance's hash");
  const removed: Record<string, number> = {};
  for (let round = 0; ; round++) {
    let left = 0;
    for (const table of await clickHouseInstanceTables(ch)) {
      const t = sqlIdentifier(table.name);
      const rows = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${t} WHERE instance_id = ${id}`);
      const n = Number(rows[0]?.n ?? 0);
      if (n === 0) continue;
      left += n;
      removed[`clickhouse.${table.name}`] = (removed[`clickhouse.${table.name}`] ?? 0) + n;
      await ch.exec(
        `ALTER TABLE ${t} DELETE WHERE sipHash64(instance_id) = ${hash} AND length(instance_id) = ${sqlNumber(s.instanceId.length)}`,
      );
      await followMutations(ch, table.name, opts);
    }
    if (left === 0) return removed;
    if (round >= 5)
      throw new Error(`rows of the instance keep arriving in ClickHouse after ${round + 1} rounds`);
  }
}

/** Waits until the table has no unfinished mutation. */
async function followMutations(ch: ClickHouseExecutor, table: string, opts: ClickHouseErasureOptions) {
  const deadline = Date.now() + opts.mutationTimeoutMs;
  for (;;) {
    const rows = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM system.mutations
       WHERE database = ${sqlString(ch.database)} AND table = ${sqlString(table)} AND is_done = 0`,
    );
    if (Number(rows[0]?.n ?? 0) === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`the mutation of ${table} did not finish within ${opts.mutationTimeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}

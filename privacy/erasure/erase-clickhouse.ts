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
  /**
   * Cluster mode: the cluster's name and one executor per server (every replica of every shard). The
   * mutations then run `ON CLUSTER` on the local tables, and each server is followed until its own
   * mutation is done and it holds none of the instance's rows. Without the servers (SMSTATS_CLICKHOUSE_SHARDS
   * unset and no stack file) the check reads through the Distributed tables: one replica per shard.
   */
  cluster?: { name: string; servers: readonly ClickHouseExecutor[] };
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
  const where = `sipHash64(instance_id) = ${hash} AND length(instance_id) = ${sqlNumber(s.instanceId.length)}`;
  const onCluster = opts.cluster ? ` ON CLUSTER ${sqlIdentifier(opts.cluster.name)}` : "";
  // Where rows are counted and mutations followed: every server of the cluster, or the one server.
  const servers = opts.cluster?.servers.length ? opts.cluster.servers : [ch];
  const removed: Record<string, number> = {};
  for (let round = 0; ; round++) {
    let left = 0;
    for (const table of await clickHouseInstanceTables(ch, opts.cluster?.name)) {
      // Counted through the name analysts use (the Distributed table in cluster mode: every shard once).
      const rows = await ch.rows<{ n: string }>(
        `SELECT count() AS n FROM ${sqlIdentifier(table.name)} WHERE instance_id = ${id}`,
      );
      const n = Number(rows[0]?.n ?? 0);
      const onServers = opts.cluster?.servers.length ? await countOnServers(servers, table.storage, id) : n;
      if (n === 0 && onServers === 0) continue;
      left += Math.max(n, onServers);
      removed[`clickhouse.${table.name}`] = (removed[`clickhouse.${table.name}`] ?? 0) + n;
      await ch.exec(`ALTER TABLE ${sqlIdentifier(table.storage)}${onCluster} DELETE WHERE ${where}`);
      await Promise.all(servers.map((server) => followMutations(server, table.storage, opts)));
    }
    if (left === 0) return removed;
    if (round >= 5)
      throw new Error(`rows of the instance keep arriving in ClickHouse after ${round + 1} rounds`);
  }
}

/** The instance's rows on every server (replicas included), summed: 0 only when none holds any. */
async function countOnServers(
  servers: readonly ClickHouseExecutor[],
  storage: string,
  id: string,
): Promise<number> {
  const counts = await Promise.all(
    servers.map((server) =>
      server.rows<{ n: string }>(
        `SELECT count() AS n FROM ${sqlIdentifier(storage)} WHERE instance_id = ${id}`,
      ),
    ),
  );
  return counts.reduce((sum, rows) => sum + Number(rows[0]?.n ?? 0), 0);
}

/** Waits until the table has no unfinished mutation on the server. */
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

import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { type ClusterHandle, clusterHandle } from "../../stack/cluster/index.ts";

/** The running cluster stack (test/cluster/setup.ts brought it up). */
export function cluster(): ClusterHandle {
  return clusterHandle();
}

/** Settings that point a process at the cluster stack with its own namespace (databases, stream, prefix). */
export function clusterEnv(handle: ClusterHandle, ns: string): Record<string, string> {
  return {
    SMSTATS_DATA_DIR: handle.paths.root,
    SMSTATS_CLICKHOUSE_DATABASE: `smstats_${ns}`,
    SMSTATS_POSTGRES_DATABASE: `smstats_${ns}`,
    SMSTATS_NATS_STREAM: `TELEMETRY_${ns.toUpperCase()}`,
    SMSTATS_NATS_SUBJECT_PREFIX: `${ns}.telemetry`,
    SMSTATS_NATS_CONSUMER: `processor_${ns}`,
    SMSTATS_NATS_STREAM_MAX_BYTES: String(256 * 1024 * 1024),
    SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 * 1024),
    SMSTATS_REDIS_KEY_PREFIX: `smstats-${ns}:`,
    SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "1000000",
    // The simulated fleet sends its instances' addresses as X-Forwarded-For.
    SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1",
    SMSTATS_LOG_LEVEL: "warn",
  };
}

/** Runs one SQL statement on one ClickHouse node of the cluster (not through a Distributed table). */
export async function onNode<T = Record<string, unknown>>(
  handle: ClusterHandle,
  url: string,
  sql: string,
): Promise<T[]> {
  const client = createClient({
    url,
    username: handle.stackFile.clickhouse.username,
    password: handle.stackFile.clickhouse.password,
    request_timeout: 120_000,
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    if (!/^\s*(SELECT|WITH|SHOW)/i.test(sql)) {
      await client.command({ query: sql });
      return [];
    }
    const rs = await client.query({ query: sql, format: "JSONEachRow" });
    return (await rs.json()) as T[];
  } finally {
    await client.close();
  }
}

/** Node URL of a shard's replica (1-based). */
export function nodeUrl(handle: ClusterHandle, shard: number, replica: number): string {
  const node = handle.topology.clickhouse.find((n) => n.shard === shard && n.replica === replica);
  if (!node) throw new Error(`no node s${shard}r${replica}`);
  return `http://127.0.0.1:${node.http}`;
}

/** Waits until every replica of `database` has fetched everything its queue holds (SYSTEM SYNC REPLICA). */
export async function syncReplicas(handle: ClusterHandle, database: string): Promise<void> {
  for (const node of handle.topology.clickhouse) {
    const url = `http://127.0.0.1:${node.http}`;
    const tables = await onNode<{ name: string }>(
      handle,
      url,
      `SELECT name FROM system.tables WHERE database = '${database}' AND engine LIKE 'Replicated%'`,
    );
    for (const t of tables) await onNode(handle, url, `SYSTEM SYNC REPLICA ${database}.${t.name}`);
  }
}

/**
 * Row counts of every replicated local table on one node. Tables that merge rows (the rollups'
 * Aggregating/Summing/Replacing engines) are counted with FINAL: their plain count depends on which
 * merges a replica has run yet, not on what it holds. `WHERE NOT ignore(*)` makes FINAL read every
 * column: a bare `count() … FINAL` reads none of a SummingMergeTree's summed columns, and 18.16 then
 * takes each merged row for an all-zero one and drops it (0 rows for a full quality_bins_1h_local;
 * ClickHouse issues 3280, 46534).
 */
export async function localCounts(
  handle: ClusterHandle,
  url: string,
  database: string,
): Promise<Record<string, number>> {
  const names = await onNode<{ name: string; engine: string }>(
    handle,
    url,
    `SELECT name, engine FROM system.tables WHERE database = '${database}' AND engine LIKE 'Replicated%' AND name != 'schema_migrations' ORDER BY name`,
  );
  const out: Record<string, number> = {};
  for (const { name, engine } of names) {
    const final = engine === "ReplicatedMergeTree" ? "" : " FINAL WHERE NOT ignore(*)";
    const [c] = await onNode<{ c: string }>(
      handle,
      url,
      `SELECT count() AS c FROM ${database}.${name}${final}`,
    );
    out[name] = Number(c?.c);
  }
  return out;
}

const FLOAT = /^-?\d+\.\d+(e[+-]?\d+)?$/;
const isFloat = (v: unknown) =>
  (typeof v === "number" && !Number.isInteger(v)) || (typeof v === "string" && FLOAT.test(v));
const decimals = (v: unknown) => /\.(\d+)$/.exec(String(v))?.[1]?.length ?? 0;

/**
 * Compares two result sets as equal up to float summation order: rows are matched by their non-float
 * values, and floats may differ by one unit of the last decimal either shows (a value rounded in SQL to
 * 223.75 ± 1e-13 may become 223.7 or 223.8, depending on the order shards' partial sums were added) or by
 * a relative 1e-9. Returns the differences, empty when the answers agree.
 */
export function differences(
  got: readonly Record<string, unknown>[],
  want: readonly Record<string, unknown>[],
): string[] {
  const key = (r: Record<string, unknown>) =>
    JSON.stringify(Object.entries(r).map(([k, v]) => [k, isFloat(v) ? "~" : v]));
  const sort = (rows: readonly Record<string, unknown>[]) =>
    [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (got.length !== want.length) return [`${got.length} rows, want ${want.length}`];
  const g = sort(got);
  const w = sort(want);
  const out: string[] = [];
  g.forEach((row, i) => {
    const other = w[i] as Record<string, unknown>;
    if (key(row) !== key(other)) {
      out.push(`row ${i}: ${JSON.stringify(row)} vs ${JSON.stringify(other)}`);
      return;
    }
    for (const [k, v] of Object.entries(row)) {
      if (!isFloat(v) && !isFloat(other[k])) {
        if (typeof v === "number" && v !== other[k]) out.push(`row ${i} ${k}: ${v} vs ${other[k]}`);
        continue;
      }
      const a = Number(v);
      const b = Number(other[k]);
      const unit = 10 ** -Math.max(decimals(v), decimals(other[k]));
      if (Math.abs(a - b) > Math.max(unit * 1.0001, 1e-9 * Math.abs(b)))
        out.push(`row ${i} ${k}: ${v} vs ${other[k]}`);
    }
  });
  return out;
}

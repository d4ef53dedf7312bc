import { MigrationError } from "./migrations.ts";

/** Where a migration runs in cluster mode. */
export interface ClusterTarget {
  /** Cluster name in remote_servers (`ON CLUSTER` target). */
  cluster: string;
  /** Database of the tables. */
  database: string;
  /** Number of the migration being applied: part of each ZooKeeper path, so a table name reused after a rename gets a fresh path. */
  version: number;
}

/** Name of the local (per-shard, replicated) table behind the Distributed table `name`. */
export function localTable(name: string): string {
  return `${name}_local`;
}

const CREATE_TABLE =
  /^CREATE TABLE IF NOT EXISTS (\w+) (\([\s\S]*\))\s*ENGINE = (\w*)MergeTree(?:\(\))?([\s\S]*)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS([\s\S]*)$/;
const CREATE_VIEW = /^CREATE VIEW IF NOT EXISTS (\w+) AS([\s\S]*)$/;
const RENAME = /^RENAME TABLE (\w+) TO (\w+)$/;
const TRUNCATE = /^TRUNCATE TABLE (\w+)$/;
const INSERT_SELECT = /^INSERT INTO (\w+) (\([\w\s,]*\))\s*(SELECT[\s\S]*)$/;
const FROM = /\bFROM (\w+)\b/g;

/**
 * Rows go to the shard of their instance, so one instance's rows (and its per-instance rollup rows)
 * live together; tables without an instance spread at random (nothing inserts into them directly).
 */
function shardingKey(columns: string): string {
  return /\binstance_id String\b/.test(columns) ? "cityHash64(instance_id)" : "rand()";
}

function distributed(t: ClusterTarget, name: string, key: string): string {
  const { cluster, database: db } = t;
  return `CREATE TABLE IF NOT EXISTS ${db}.${name} ON CLUSTER ${cluster} AS ${db}.${localTable(name)} ENGINE = Distributed(${cluster}, ${db}, ${localTable(name)}, ${key})`;
}

/**
 * The cluster form of one single-node migration statement, so one set of migration files serves both
 * modes (their text, and so their checksums, stay the single-node form):
 * - `CREATE TABLE t … ENGINE = XMergeTree()` → `t_local` with ReplicatedXMergeTree on every node, and
 *   `t` as a Distributed table over them: the name analysts and boards use reads every shard;
 * - a materialized view reads and writes the local tables, so each shard rolls up its own rows;
 * - a plain view reads the Distributed tables;
 * - `RENAME TABLE a TO b` renames the local tables and re-creates the Distributed one for the new name;
 * - `TRUNCATE TABLE t` becomes `ALTER TABLE t_local ON CLUSTER … DELETE WHERE 1`: 18.16 forwards a
 *   TRUNCATE on a replica that is not the shard's leader to the leader as the `default` user (distributed
 *   DDL runs as `default`), which the cluster refuses; an ALTER runs once per shard and replicates. It is a
 *   mutation: it deletes the rows of the parts that existed when it was submitted, in the background
 *   (seconds), and leaves the parts inserted after it, such as a backfill's;
 * - `INSERT INTO t (…) SELECT … FROM raw …` (a backfill) reads and writes the Distributed tables: it runs
 *   once, on the node the runner reaches, which reads every shard and spreads the rows by t's sharding
 *   key (the runner's inserts must be synchronous, insert_distributed_sync=1: see migrateAll).
 * Everything but the backfill runs `ON CLUSTER`; every name is qualified. A statement of another form is refused, so a new
 * migration cannot silently skip the cluster.
 */
export function clusterStatements(statement: string, t: ClusterTarget): string[] {
  const sql = statement.trim();
  const { cluster, database: db, version } = t;
  let m = CREATE_TABLE.exec(sql);
  if (m) {
    const [, name, columns, kind, rest] = m as unknown as [string, string, string, string, string];
    const local = localTable(name);
    const path = `/clickhouse/tables/{shard}/${db}/${local}-${String(version).padStart(4, "0")}`;
    return [
      `CREATE TABLE IF NOT EXISTS ${db}.${local} ON CLUSTER ${cluster} ${columns} ENGINE = Replicated${kind}MergeTree('${path}', '{replica}')${rest}`,
      distributed(t, name, shardingKey(columns)),
    ];
  }
  m = CREATE_MV.exec(sql);
  if (m) {
    const [, name, target, select] = m as unknown as [string, string, string, string];
    const onLocal = select.replace(FROM, (_all, table: string) => `FROM ${db}.${localTable(table)}`);
    return [
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${name} ON CLUSTER ${cluster} TO ${db}.${localTable(target)} AS${onLocal}`,
    ];
  }
  m = CREATE_VIEW.exec(sql);
  if (m) {
    const [, name, select] = m as unknown as [string, string, string];
    const qualified = select.replace(FROM, (_all, table: string) => `FROM ${db}.${table}`);
    return [`CREATE VIEW IF NOT EXISTS ${db}.${name} ON CLUSTER ${cluster} AS${qualified}`];
  }
  m = RENAME.exec(sql);
  if (m) {
    const [, from, to] = m as unknown as [string, string, string];
    return [
      `RENAME TABLE ${db}.${localTable(from)} TO ${db}.${localTable(to)} ON CLUSTER ${cluster}`,
      `DROP TABLE IF EXISTS ${db}.${from} ON CLUSTER ${cluster}`,
      // The renamed table is only read (its rows age out); inserts never reach it.
      distributed(t, to, "rand()"),
    ];
  }
  m = TRUNCATE.exec(sql);
  if (m) {
    const [, name] = m as unknown as [string, string];
    return [`ALTER TABLE ${db}.${localTable(name)} ON CLUSTER ${cluster} DELETE WHERE 1`];
  }
  m = INSERT_SELECT.exec(sql);
  if (m) {
    const [, target, columns, select] = m as unknown as [string, string, string, string];
    const qualified = select.replace(FROM, (_all, table: string) => `FROM ${db}.${table}`);
    return [`INSERT INTO ${db}.${target} ${columns} ${qualified}`];
  }
  throw new MigrationError(
    "MIGRATION_FAILED",
    `migration ${version}: no cluster form for this statement (add one in lib/migrate/cluster-sql.ts): ${sql.slice(0, 120)}`,
  );
}

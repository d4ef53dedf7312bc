import type pg from "pg";
import type { ClickHouseExecutor } from "../lib/clients/index.ts";
import { sqlString } from "../lib/sql/index.ts";

/** A ClickHouse table that stores rows per instance, with its columns in table order. */
export interface ClickHouseInstanceTable {
  /** The name analysts use; in cluster mode the Distributed table that reads every shard. */
  name: string;
  /** The table that holds the rows on each server: `name` on one server, its `_local` table in cluster mode. */
  storage: string;
  columns: { name: string; type: string }[];
}

/**
 * Every table of the database that stores rows (a MergeTree engine: raw tables, per-instance rollups, the
 * stored-batches record) and has an instance_id column, found in system.columns rather than listed by hand,
 * so a table added later is erased and exported without a code change. Views and materialized views
 * (`TO` tables) store nothing themselves and are left out. Columns come in table order (system.columns
 * lists them so; 18.16 has no position column to sort by).
 *
 * In cluster mode (`cluster` named) the tables found are the replicated local tables (`<name>_local`,
 * lib/migrate/cluster-sql.ts); each comes with the name of the Distributed table over them, since one
 * server holds only its shard's rows.
 */
export async function clickHouseInstanceTables(
  ch: ClickHouseExecutor,
  cluster = "",
): Promise<ClickHouseInstanceTable[]> {
  const db = sqlString(ch.database);
  const rows = await ch.rows<{ table: string; name: string; type: string }>(
    `SELECT table, name, type FROM system.columns
     WHERE database = ${db}
       AND table IN (SELECT name FROM system.tables WHERE database = ${db} AND engine LIKE '%MergeTree')
       AND table IN (SELECT table FROM system.columns WHERE database = ${db} AND name = 'instance_id')`,
  );
  const byTable = new Map<string, ClickHouseInstanceTable>();
  for (const r of rows) {
    const name = cluster ? r.table.replace(/_local$/, "") : r.table;
    const t = byTable.get(r.table) ?? { name, storage: r.table, columns: [] };
    byTable.set(r.table, t);
    t.columns.push({ name: r.name, type: r.type });
  }
  return [...byTable.values()];
}

/** A PostgreSQL table with an instance_id column, with the columns an export shows. */
export interface PostgresInstanceTable {
  name: string;
  /** Columns other than bytea ones (sealed secrets, token hashes: nothing a person can read). */
  columns: string[];
}

/**
 * Every base table of the schema with an instance_id column (instances itself is keyed by id and is
 * handled apart), found in information_schema so a new table cannot be forgotten.
 */
export async function postgresInstanceTables(db: pg.Pool | pg.ClientBase): Promise<PostgresInstanceTable[]> {
  const { rows } = await db.query<{ table_name: string; columns: string[] }>(
    `SELECT c.table_name,
            array_agg(c.column_name::text ORDER BY c.ordinal_position)
              FILTER (WHERE c.data_type <> 'bytea') AS columns
     FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
       AND c.table_name IN (SELECT table_name FROM information_schema.columns
                            WHERE table_schema = current_schema() AND column_name = 'instance_id')
     GROUP BY c.table_name ORDER BY c.table_name`,
  );
  return rows.map((r) => ({ name: r.table_name, columns: r.columns ?? [] }));
}

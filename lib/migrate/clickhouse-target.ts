import type { ClickHouseExecutor } from "../clients/clickhouse.ts";
import { splitStatements, sqlNumber, sqlString } from "../sql/index.ts";
import { clusterStatements } from "./cluster-sql.ts";
import type { Migration } from "./migrations.ts";
import type { MigrationTarget } from "./run.ts";

/**
 * Applies ClickHouse migrations statement by statement. ClickHouse has no transactions, so a migration
 * that fails half-way is re-run from its first statement next time: migration statements are written
 * to be re-runnable (IF NOT EXISTS), and the record is written only after all of them succeeded.
 */
export function clickhouseTarget(ch: ClickHouseExecutor, cluster = ""): MigrationTarget {
  const db = ch.database;
  return {
    label: `clickhouse(${ch.engine}${cluster ? ` cluster ${cluster}` : ""}) ${db}`,
    async prepare() {
      await ch.ensureDatabase();
      const columns = "(version UInt32, name String, checksum String, applied_at DateTime('UTC'))";
      // In a cluster every node holds a replica of the record (one ZooKeeper path for all shards), so
      // whichever node the runner reaches next time knows what was applied.
      await ch.exec(
        cluster
          ? `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations ON CLUSTER ${cluster} ${columns}
             ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/${db}/schema_migrations', '{replica}') ORDER BY version`
          : `CREATE TABLE IF NOT EXISTS schema_migrations ${columns} ENGINE = MergeTree() ORDER BY version`,
      );
    },
    async applied() {
      const rows = await ch.rows<{ version: number; checksum: string }>(
        "SELECT version, any(checksum) AS checksum FROM schema_migrations GROUP BY version",
      );
      return new Map(rows.map((r) => [Number(r.version), r.checksum]));
    },
    async apply(m: Migration) {
      for (const statement of splitStatements(m.sql)) {
        const forms = cluster
          ? clusterStatements(statement, { cluster, database: db, version: m.version })
          : [statement];
        for (const sql of forms) await ch.exec(sql);
      }
      await ch.exec(
        `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (${sqlNumber(m.version)}, ${sqlString(m.name)}, ${sqlString(m.checksum)}, now())`,
      );
    },
    // Runs happen once at start (npm start, a Helm hook); ClickHouse has no lock to take.
    withLock: (fn) => fn(),
  };
}

import type { ClickHouseExecutor } from "../clients/clickhouse.ts";
import { splitStatements, sqlNumber, sqlString } from "../sql/index.ts";
import type { Migration } from "./migrations.ts";
import type { MigrationTarget } from "./run.ts";

/**
 * Applies ClickHouse migrations statement by statement. ClickHouse has no transactions, so a migration
 * that fails half-way is re-run from its first statement next time: migration statements are written
 * to be re-runnable (IF NOT EXISTS), and the record is written only after all of them succeeded.
 */
export function clickhouseTarget(ch: ClickHouseExecutor): MigrationTarget {
  return {
    label: `clickhouse(${ch.engine}) ${ch.database}`,
    async prepare() {
      await ch.ensureDatabase();
      await ch.exec(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version UInt32, name String, checksum String, applied_at DateTime('UTC')
         ) ENGINE = MergeTree() ORDER BY version`,
      );
    },
    async applied() {
      const rows = await ch.rows<{ version: number; checksum: string }>(
        "SELECT version, any(checksum) AS checksum FROM schema_migrations GROUP BY version",
      );
      return new Map(rows.map((r) => [Number(r.version), r.checksum]));
    },
    async apply(m: Migration) {
      for (const statement of splitStatements(m.sql)) await ch.exec(statement);
      await ch.exec(
        `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (${sqlNumber(m.version)}, ${sqlString(m.name)}, ${sqlString(m.checksum)}, now())`,
      );
    },
    // Runs happen once at start (npm start, a Helm hook); ClickHouse has no lock to take.
    withLock: (fn) => fn(),
  };
}

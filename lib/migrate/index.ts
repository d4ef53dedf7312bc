import { join } from "node:path";
import { loadPiiVault } from "../../licensing/keys/pii-vault.ts";
import { sealExistingPii } from "../../licensing/migrations/0008_sealed_pii.ts";
import {
  type ClickHouseExecutor,
  clusterInsertSettings,
  createClickHouseClient,
  serverExecutor,
} from "../clients/clickhouse.ts";
import type { Config } from "../config/index.ts";
import { repoRoot } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { clickhouseTarget } from "./clickhouse-target.ts";
import { loadMigrations } from "./migrations.ts";
import { ensureRoleLogins } from "./postgres-roles.ts";
import { type MigrationCompanion, postgresTarget } from "./postgres-target.ts";
import { type MigrationReport, runMigrations } from "./run.ts";

export { clickhouseTarget } from "./clickhouse-target.ts";
export { type ClusterTarget, clusterStatements, localTable } from "./cluster-sql.ts";
export { loadMigrations, type Migration, MigrationError } from "./migrations.ts";
export { ensureRoleLogins, SERVICE_ROLES } from "./postgres-roles.ts";
export { type MigrationCompanion, postgresTarget } from "./postgres-target.ts";
export { type MigrationReport, type MigrationTarget, runMigrations } from "./run.ts";

/** How long one ClickHouse migration statement may run (a backfill of a large raw table takes minutes). */
const MIGRATION_TIMEOUT_MS = 3_600_000;

/** Folder of the ClickHouse migrations. */
export const clickhouseMigrationsDir = join(repoRoot, "clickhouse", "migrations");
/** Folder of the PostgreSQL (licensing) migrations. */
export const postgresMigrationsDir = join(repoRoot, "licensing", "migrations");

/** Applies the ClickHouse migrations through an executor (the server's, or chDB's in tests). */
export function migrateClickHouse(
  ch: ClickHouseExecutor,
  log?: Logger,
  cluster = "",
): Promise<MigrationReport> {
  return runMigrations(clickhouseTarget(ch, cluster), loadMigrations(clickhouseMigrationsDir), log);
}

/**
 * Applies the PostgreSQL migrations to the configured database, creating it when missing. `dataDir` holds
 * the keys a companion may need (0008 seals existing emails and addresses); without it such a migration
 * fails if there is anything to seal.
 */
export async function migratePostgres(url: string, log?: Logger, dataDir?: string): Promise<MigrationReport> {
  const target = postgresTarget(url, postgresCompanions(dataDir, log));
  try {
    return await runMigrations(target, loadMigrations(postgresMigrationsDir), log);
  } finally {
    await target.close();
  }
}

/** Migrates both stores of a configuration; what `npm start` runs before the services. */
export async function migrateAll(
  config: Readonly<Config>,
  log?: Logger,
): Promise<{ clickhouse: MigrationReport; postgres: MigrationReport }> {
  // A migration may backfill a rollup from a raw table (0006): one statement that runs for minutes on a
  // large table, so requests may take up to an hour, with progress headers every 10 s so that no proxy
  // between here and the server closes a silent connection; in cluster mode the backfill inserts through
  // the Distributed tables, synchronously (clusterInsertSettings), so the rows are there when it returns.
  const chConfig = {
    ...config.clickhouse,
    settings: {
      ...clusterInsertSettings(config.clickhouse),
      send_progress_in_http_headers: 1,
      http_headers_progress_interval_ms: 10_000,
    },
  };
  const ch = serverExecutor(
    chConfig,
    createClickHouseClient(chConfig, chConfig.database, MIGRATION_TIMEOUT_MS),
  );
  try {
    const clickhouse = await migrateClickHouse(ch, log, config.clickhouse.cluster);
    const postgres = await migratePostgres(config.postgres.url, log, config.dataDir);
    await ensureRoleLogins(config.postgres.url, config.dataDir);
    return { clickhouse, postgres };
  } finally {
    await ch.close();
  }
}

/** The PostgreSQL migrations' companion code, by version. */
function postgresCompanions(dataDir: string | undefined, log?: Logger): Map<number, MigrationCompanion> {
  return new Map([
    [
      8,
      async (db) => {
        const counts = await sealExistingPii(db, async () => {
          if (!dataDir) throw new Error("sealing existing emails and addresses needs the data folder's keys");
          return loadPiiVault(dataDir);
        });
        log?.info({ counts }, "sealed existing personal fields");
      },
    ],
  ]);
}

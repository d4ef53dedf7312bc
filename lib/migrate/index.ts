import { join } from "node:path";
import { type ClickHouseExecutor, serverExecutor } from "../clients/clickhouse.ts";
import type { Config } from "../config/index.ts";
import { repoRoot } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { clickhouseTarget } from "./clickhouse-target.ts";
import { loadMigrations } from "./migrations.ts";
import { ensureRoleLogins } from "./postgres-roles.ts";
import { postgresTarget } from "./postgres-target.ts";
import { type MigrationReport, runMigrations } from "./run.ts";

export { clickhouseTarget } from "./clickhouse-target.ts";
export { type ClusterTarget, clusterStatements, localTable } from "./cluster-sql.ts";
export { loadMigrations, type Migration, MigrationError } from "./migrations.ts";
export { ensureRoleLogins, SERVICE_ROLES } from "./postgres-roles.ts";
export { postgresTarget } from "./postgres-target.ts";
export { type MigrationReport, type MigrationTarget, runMigrations } from "./run.ts";

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

/** Applies the PostgreSQL migrations to the configured database, creating it when missing. */
export async function migratePostgres(url: string, log?: Logger): Promise<MigrationReport> {
  const target = postgresTarget(url);
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
  const ch = serverExecutor(config.clickhouse);
  try {
    const clickhouse = await migrateClickHouse(ch, log, config.clickhouse.cluster);
    const postgres = await migratePostgres(config.postgres.url, log);
    await ensureRoleLogins(config.postgres.url, config.dataDir);
    return { clickhouse, postgres };
  } finally {
    await ch.close();
  }
}

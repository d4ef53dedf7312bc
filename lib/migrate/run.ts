import type { Logger } from "../log/index.ts";
import { type Migration, MigrationError } from "./migrations.ts";

/** Where migrations are applied and recorded: one per database engine. */
export interface MigrationTarget {
  /** Human name for logs, e.g. "clickhouse smstats". */
  readonly label: string;
  /** Creates the database and the migrations table when missing. */
  prepare(): Promise<void>;
  /** Versions already applied, with the checksum recorded when each was. */
  applied(): Promise<Map<number, string>>;
  /** Applies one migration and records it; must leave no record when a statement fails. */
  apply(migration: Migration): Promise<void>;
  /** Serialises concurrent runners where the engine can (PostgreSQL advisory lock). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** What a run did. */
export interface MigrationReport {
  applied: number[];
  alreadyApplied: number[];
}

/** Applies every pending migration in order; refuses to run if an applied one was edited. */
export async function runMigrations(
  target: MigrationTarget,
  migrations: Migration[],
  log?: Logger,
): Promise<MigrationReport> {
  await target.prepare();
  return target.withLock(async () => {
    const done = await target.applied();
    const report: MigrationReport = { applied: [], alreadyApplied: [] };
    for (const m of migrations) {
      const recorded = done.get(m.version);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new MigrationError(
            "MIGRATION_CHANGED",
            `${target.label}: migration ${m.version}_${m.name} was changed after it was applied; add a new migration instead`,
          );
        }
        report.alreadyApplied.push(m.version);
        continue;
      }
      try {
        await target.apply(m);
      } catch (err) {
        throw new MigrationError(
          "MIGRATION_FAILED",
          `${target.label}: migration ${m.version}_${m.name} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      log?.info({ target: target.label, version: m.version, name: m.name }, "applied migration");
      report.applied.push(m.version);
    }
    return report;
  });
}

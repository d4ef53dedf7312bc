import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One numbered SQL migration file. */
export interface Migration {
  /** The number in the file name, e.g. 1 for 0001_metrics_quality.sql. */
  version: number;
  /** The rest of the file name, e.g. metrics_quality. */
  name: string;
  /** The file's text. */
  sql: string;
  /** sha256 of the text: an applied migration whose file changed is refused (migrations are append-only). */
  checksum: string;
}

/** Raised for a malformed migrations folder, a changed applied migration or a failed statement. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
  constructor(
    readonly code: "MIGRATION_FOLDER_INVALID" | "MIGRATION_CHANGED" | "MIGRATION_FAILED",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads NNNN_name.sql files of a folder in order, refusing gaps and duplicate numbers. */
export function loadMigrations(dir: string): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql"));
  const migrations = files.map((file) => {
    const m = FILE.exec(file);
    if (!m)
      throw new MigrationError("MIGRATION_FOLDER_INVALID", `${dir}/${file}: name must be NNNN_name.sql`);
    const sql = readFileSync(join(dir, file), "utf8");
    return {
      version: Number(m[1]),
      name: m[2] as string,
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    };
  });
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError(
        "MIGRATION_FOLDER_INVALID",
        `${dir}: expected migration ${String(i + 1).padStart(4, "0")}, found ${String(m.version).padStart(4, "0")}_${m.name}`,
      );
    }
  });
  return migrations;
}

import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import pg from "pg";
import { rolePasswordFile } from "../config/index.ts";

/** The service's database roles (created by licensing migration 0004 without a login). */
export const SERVICE_ROLES = ["smstats_write", "smstats_read"] as const;

function readOrCreatePassword(path: string): string {
  try {
    const value = readFileSync(path, "utf8").trim();
    if (value) return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  // Hex, as the stack's passwords: nothing to escape in a URL or in SQL.
  const value = randomBytes(24).toString("hex");
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
}

/**
 * Lets the service roles log in with passwords kept in <data>/secrets (generated at first use, like the
 * stack's own), so the repository never holds one. Runs as the owner role after the migrations. Roles are
 * per cluster: test databases on the same cluster share them and their passwords.
 */
export async function ensureRoleLogins(ownerUrl: string, dataDir: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl, application_name: "smstats-migrate" });
  await client.connect();
  try {
    for (const role of SERVICE_ROLES) {
      const password = readOrCreatePassword(rolePasswordFile(dataDir, role));
      if (!/^[0-9a-f]+$/.test(password)) throw new Error(`${rolePasswordFile(dataDir, role)}: expected hex`);
      // ALTER ROLE takes no parameters; the role is a constant and the password hex (checked above).
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query(`ALTER ROLE ${role} LOGIN PASSWORD '${password}'`);
          break;
        } catch (err) {
          // Two runners (test namespaces) updating the same role row at once: one of them retries.
          if ((err as { code?: string }).code !== "XX000" || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
        }
      }
    }
  } finally {
    await client.end();
  }
}

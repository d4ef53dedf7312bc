import pg from "pg";
import type { Migration } from "./migrations.ts";
import type { MigrationTarget } from "./run.ts";

/**
 * Code a migration needs between its SQL halves (e.g. sealing values with keys SQL cannot hold). A
 * migration file marks the point with a line `-- @companion`; it runs in the migration's transaction.
 */
export type MigrationCompanion = (db: pg.ClientBase) => Promise<void>;

const COMPANION_MARK = /^-- @companion$/m;

// An arbitrary constant: every runner of this project takes the same advisory lock.
const LOCK_KEY = 727_001;

/**
 * Applies PostgreSQL migrations, each in its own transaction together with its record, under an
 * advisory lock so two processes starting at once do not race. Creates the database when missing.
 */
export function postgresTarget(
  url: string,
  companions: ReadonlyMap<number, MigrationCompanion> = new Map(),
): MigrationTarget & { close(): Promise<void> } {
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  let client: pg.Client | undefined;
  const db = () => {
    if (!client) throw new Error("postgres target used before prepare()");
    return client;
  };
  return {
    label: `postgres ${database}`,
    async prepare() {
      await ensureDatabase(url, database);
      client = new pg.Client({ connectionString: url, application_name: "smstats-migrate" });
      await client.connect();
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    },
    async applied() {
      const { rows } = await db().query<{ version: number; checksum: string }>(
        "SELECT version, checksum FROM schema_migrations",
      );
      return new Map(rows.map((r) => [r.version, r.checksum]));
    },
    async apply(m: Migration) {
      const c = db();
      await c.query("BEGIN");
      try {
        const [before, after] = m.sql.split(COMPANION_MARK);
        await c.query(before as string);
        if (after !== undefined) {
          const companion = companions.get(m.version);
          if (!companion)
            throw new Error(`migration ${m.version} needs its companion code, and none was given`);
          await companion(c);
          await c.query(after);
        }
        await c.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
          m.version,
          m.name,
          m.checksum,
        ]);
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK");
        throw err;
      }
    },
    async withLock(fn) {
      const c = db();
      await c.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
      try {
        return await fn();
      } finally {
        await c.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
      }
    },
    async close() {
      await client?.end();
      client = undefined;
    },
  };
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString(), application_name: "smstats-migrate" });
  await c.connect();
  try {
    const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (!rowCount) {
      // CREATE DATABASE takes no parameters; the name was validated by the config as a plain identifier.
      await c.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== "42P04") throw err; // created by a concurrent runner meanwhile
      });
    }
  } finally {
    await c.end();
  }
}

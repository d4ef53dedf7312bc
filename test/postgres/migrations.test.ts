import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/index.ts";
import { loadMigrations, migratePostgres, postgresMigrationsDir } from "../../lib/migrate/index.ts";

const config = loadConfig();
const dbName = `smstats_mig_${process.pid}`;
const url = (() => {
  const u = new URL(config.postgres.url);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

afterAll(async () => {
  const admin = new URL(config.postgres.url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await c.end();
});

describe("PostgreSQL migrations", () => {
  it("creates the database, applies every migration and records each", async () => {
    const report = await migratePostgres(url);
    expect(report.applied).toEqual(loadMigrations(postgresMigrationsDir).map((m) => m.version));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const columns = new Set(
      (
        await c.query<{ c: string }>(
          "SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = 'public'",
        )
      ).rows.map((r) => r.c),
    );
    const tables = new Set([...columns].map((x) => x.split(".")[0]));
    const recorded = (
      await c.query<{ version: number; checksum: string }>(
        "SELECT version, checksum FROM schema_migrations ORDER BY version",
      )
    ).rows;
    const tiers = (await c.query("SELECT tier, key_label FROM tier_policies ORDER BY rank")).rows;
    await c.end();
    // Every table each migration creates and every column it adds is there (a skipped or half-applied
    // migration leaves one out), and each migration is recorded with its file's checksum.
    const migrations = loadMigrations(postgresMigrationsDir);
    const created = migrations.flatMap((m) =>
      [...m.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)].map((x) => x[1] as string),
    );
    const added = migrations.flatMap((m) =>
      [...m.sql.matchAll(/ALTER TABLE ([a-z_]+) ADD COLUMN (?:IF NOT EXISTS )?([a-z_]+)/g)].map(
        (x) => `${x[1]}.${x[2]}`,
      ),
    );
    expect(created.length).toBeGreaterThan(10);
    expect(added.length).toBeGreaterThan(5);
    expect(created.filter((t) => !tables.has(t))).toEqual([]);
    expect(added.filter((col) => !columns.has(col))).toEqual([]);
    expect(recorded.map((r) => [Number(r.version), r.checksum])).toEqual(
      migrations.map((m) => [m.version, m.checksum]),
    );
    expect(tiers).toEqual([
      { tier: "starter", key_label: "STARTER" },
      { tier: "party_host", key_label: "PARTY" },
      { tier: "venue", key_label: "VENUE" },
    ]);
  });

  it("applies nothing the second time, even from two runners at once", async () => {
    const [a, b] = await Promise.all([migratePostgres(url), migratePostgres(url)]);
    expect(a.applied).toEqual([]);
    expect(b.applied).toEqual([]);
  });
});
